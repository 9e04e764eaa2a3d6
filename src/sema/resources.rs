//! Resources of the jobs a spec's steps become on a Slurm cluster
//! (`inoc run --executor slurm`): parsed from `--resources [OP:]KEY=VALUE,...`
//! and from a spec's root `let slurm = {OP = "KEY=VALUE,...", all = "..."}`,
//! which the checker validates (E0152) and puts into the IR
//! ([`super::ir::Program::resources`]).

use serde::{Deserialize, Serialize};

/// The root `let` of a spec that holds its Slurm resources.
pub const SPEC_LET: &str = "slurm";

/// The field of [`SPEC_LET`] that applies to every step.
pub const ALL: &str = "all";

/// Resources of a job (`sbatch` options); `None`: not passed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    pub partition: Option<String>,
    pub gpus: Option<u32>,
    pub cpus: Option<u32>,
    pub mem: Option<String>,
    pub time: Option<String>,
}

impl Resources {
    /// `other`'s values where it has them.
    pub fn overlay(&mut self, other: &Resources) {
        if other.partition.is_some() {
            self.partition.clone_from(&other.partition);
        }
        if other.gpus.is_some() {
            self.gpus = other.gpus;
        }
        if other.cpus.is_some() {
            self.cpus = other.cpus;
        }
        if other.mem.is_some() {
            self.mem.clone_from(&other.mem);
        }
        if other.time.is_some() {
            self.time.clone_from(&other.time);
        }
    }

    /// The `sbatch` options.
    pub fn args(&self) -> Vec<String> {
        let mut a = Vec::new();
        if let Some(p) = &self.partition {
            a.push(format!("--partition={p}"));
        }
        if let Some(g) = self.gpus.filter(|g| *g > 0) {
            a.push(format!("--gpus={g}"));
        }
        if let Some(c) = self.cpus {
            a.push(format!("--cpus-per-task={c}"));
        }
        if let Some(m) = &self.mem {
            a.push(format!("--mem={m}"));
        }
        if let Some(t) = &self.time {
            a.push(format!("--time={t}"));
        }
        a
    }
}

/// One `--resources [OP:]KEY=VALUE,...` of the command line (or a
/// spec's): the resources of the jobs of one operation, or of all.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceSetting {
    /// The operation (`finetune`), `None` for every step.
    pub op: Option<String>,
    pub resources: Resources,
}

impl ResourceSetting {
    /// Parses `finetune:gpus=1,time=4:00:00` or `partition=gpu`.
    pub fn parse(s: &str) -> Result<ResourceSetting, String> {
        let (op, rest) = match s.split_once(':') {
            Some((op, rest)) if !op.contains('=') => (Some(op.trim().to_string()), rest),
            _ => (None, s),
        };
        if let Some(op) = &op {
            if op.is_empty() || !op.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "`{op}` is not an operation name (e.g. `finetune:gpus=1`)"
                ));
            }
        }
        let mut r = Resources::default();
        for kv in rest.split(',').filter(|x| !x.trim().is_empty()) {
            let Some((k, v)) = kv.split_once('=') else {
                return Err(format!(
                    "`{kv}` is not KEY=VALUE (partition, gpus, cpus, mem, time)"
                ));
            };
            let (k, v) = (k.trim(), v.trim());
            let count = |v: &str| {
                v.parse::<u32>()
                    .map_err(|_| format!("`{k}` takes a whole number, not `{v}`"))
            };
            match k {
                "partition" if !v.is_empty() && !v.contains(char::is_whitespace) => {
                    r.partition = Some(v.to_string())
                }
                "gpus" => r.gpus = Some(count(v)?),
                "cpus" | "cpus-per-task" => r.cpus = Some(count(v)?.max(1)),
                "mem" if valid_mem(v) => r.mem = Some(v.to_string()),
                "time" if valid_time(v) => r.time = Some(v.to_string()),
                "partition" | "mem" | "time" => {
                    return Err(format!(
                        "`{v}` is not a valid `{k}` ({})",
                        match k {
                            "mem" => "a size such as 16G or 512M",
                            "time" => "minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS",
                            _ => "a partition name",
                        }
                    ))
                }
                _ => {
                    return Err(format!(
                        "unknown resource `{k}` (partition, gpus, cpus, mem, time)"
                    ))
                }
            }
        }
        if r == Resources::default() {
            return Err(format!(
                "`{s}` sets no resource (e.g. `finetune:gpus=1,time=4:00:00`)"
            ));
        }
        Ok(ResourceSetting { op, resources: r })
    }
}

fn valid_mem(v: &str) -> bool {
    let digits = v.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
    !digits.is_empty() && digits.len() + 1 >= v.len() && digits.chars().all(|c| c.is_ascii_digit())
}

fn valid_time(v: &str) -> bool {
    let (days, rest) = match v.split_once('-') {
        Some((d, r)) => (Some(d), r),
        None => (None, v),
    };
    let num = |s: &str| !s.is_empty() && s.len() <= 4 && s.chars().all(|c| c.is_ascii_digit());
    if days.is_some_and(|d| !num(d)) {
        return false;
    }
    let parts: Vec<&str> = rest.split(':').collect();
    parts.len() <= 3 && parts.iter().all(|p| num(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_settings_parse_and_reject() {
        let r = ResourceSetting::parse("finetune:gpus=1,time=4:00:00,mem=32G").unwrap();
        assert_eq!(r.op.as_deref(), Some("finetune"));
        assert_eq!(r.resources.gpus, Some(1));
        assert_eq!(r.resources.time.as_deref(), Some("4:00:00"));
        let r = ResourceSetting::parse("partition=gpu,cpus=8").unwrap();
        assert_eq!(r.op, None);
        assert_eq!(
            r.resources.args(),
            vec!["--partition=gpu", "--cpus-per-task=8"]
        );
        for bad in [
            "gpus=x",
            "finetune:",
            "colour=red",
            "time=4h",
            "mem=lots",
            "fine tune:gpus=1",
            "partition=a b",
            "time=1:2:3:4",
        ] {
            assert!(ResourceSetting::parse(bad).is_err(), "{bad}");
        }
        for ok in [
            "time=30",
            "time=1-12",
            "time=2-00:30:00",
            "mem=512M",
            "mem=4096",
        ] {
            assert!(ResourceSetting::parse(ok).is_ok(), "{ok}");
        }
    }
}
