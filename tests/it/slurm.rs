//! `inoc run --executor slurm`, `inoc exec-step` and `inoc status` on the
//! real binary against a fake Slurm: `sbatch` and `squeue` are shell
//! scripts on `PATH` that record the submissions and print the states a
//! test writes, and the test runs the recorded job scripts itself, in
//! dependency order. (scripts/slurm-e2e.sh does the same on a real
//! single-node cluster.) Uses the engine tests' experiment:
//! d = t_data; t[s in 0,1] = t_train(d); e = t_eval(t, d); r = t_report(e).

use crate::engine::{program, Env, Exp};
use inoc::sema::ir::Value;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::process::Command;

const SBATCH: &str = r#"#!/bin/sh
# Fake sbatch: the next id, a line `ID ARGS...` in sbatch.log, the job
# PENDING in the queue file that the fake squeue prints.
d="$FAKE_SLURM"
n=$(( $(cat "$d/next" 2>/dev/null || echo 100) + 1 ))
echo "$n" > "$d/next"
echo "$n $*" >> "$d/sbatch.log"
echo "$n|PENDING|Dependency" >> "$d/queue"
echo "$n"
"#;

const SQUEUE: &str = r#"#!/bin/sh
cat "$FAKE_SLURM/queue"
"#;

struct Fake<'a> {
    env: &'a Env,
}

/// One recorded `sbatch` call.
#[derive(Debug, Clone)]
struct Job {
    id: String,
    name: String,
    deps: Vec<String>,
    args: Vec<String>,
    script: String,
}

impl<'a> Fake<'a> {
    fn new(env: &'a Env) -> Fake<'a> {
        let bin = env.path("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for (name, text) in [("sbatch", SBATCH), ("squeue", SQUEUE)] {
            let p = bin.join(name);
            std::fs::write(&p, text).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(env.path("queue"), "").unwrap();
        Fake { env }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.env.cmd(args);
        let path = format!(
            "{}:{}",
            self.env.path("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        c.env("PATH", path)
            .env("FAKE_SLURM", self.env.path(""))
            .env("INOC_SLURM_POLL", "0.05");
        c
    }

    fn out(&self, args: &[&str]) -> (i32, String, String) {
        let o = self.cmd(args).output().unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    fn jobs(&self) -> Vec<Job> {
        std::fs::read_to_string(self.env.path("sbatch.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let parts: Vec<String> = l.split(' ').map(String::from).collect();
                let arg = |p: &str| {
                    parts
                        .iter()
                        .find_map(|a| a.strip_prefix(p).map(String::from))
                };
                Job {
                    id: parts[0].clone(),
                    name: arg("--job-name=inoc:").unwrap(),
                    deps: arg("--dependency=afterok:")
                        .map(|d| d.split(':').map(String::from).collect())
                        .unwrap_or_default(),
                    args: parts[1..parts.len() - 1].to_vec(),
                    script: parts.last().unwrap().clone(),
                }
            })
            .collect()
    }

    /// Sets a job's state in the fake queue.
    fn set_state(&self, id: &str, state: &str, reason: &str) {
        let q = std::fs::read_to_string(self.env.path("queue")).unwrap();
        let q: String = q
            .lines()
            .map(|l| {
                if l.split('|').next() == Some(id) {
                    format!("{id}|{state}|{reason}\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        std::fs::write(self.env.path("queue"), q).unwrap();
    }

    /// Runs a job's batch script as Slurm would (in the submitter's
    /// directory, with SLURM_JOB_ID); returns its exit code.
    fn run_job(&self, job: &Job) -> i32 {
        let o = Command::new("sh")
            .arg(&job.script)
            .current_dir(self.env.path(""))
            .env("INOC_TEST_OPS", "1")
            .env("INOC_TEST_OPLOG", self.env.path("oplog"))
            .env("SLURM_JOB_ID", &job.id)
            .output()
            .unwrap();
        let code = o.status.code().unwrap_or(-1);
        self.set_state(
            &job.id,
            if code == 0 { "COMPLETED" } else { "FAILED" },
            if code == 0 { "None" } else { "NonZeroExitCode" },
        );
        code
    }
}

fn by_name(jobs: &[Job]) -> BTreeMap<String, Job> {
    jobs.iter().map(|j| (j.name.clone(), j.clone())).collect()
}

/// step name -> output hash, from a run folder's provenance.json.
fn outputs(folder: &std::path::Path) -> BTreeMap<String, String> {
    let p: Json =
        serde_json::from_slice(&std::fs::read(folder.join("provenance.json")).unwrap()).unwrap();
    p["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["output_hash"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn one_job_per_step_with_dependencies_idempotent_and_identical_to_a_local_run() {
    let local = Env::new();
    local.write("exp.json", &program(&Exp::default()));
    let local_folder = local.run("exp.json");

    let env = Env::new();
    env.write("exp.json", &program(&Exp::default()));
    let fake = Fake::new(&env);
    let (code, _, err) = fake.out(&[
        "run",
        "--executor",
        "slurm",
        "exp.json",
        "--resources",
        "t_train:gpus=2,time=1:00:00",
        "--resources",
        "partition=batch",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("5 steps: 0 cached, 5 submitted"), "{err}");
    let jobs = fake.jobs();
    assert_eq!(jobs.len(), 6, "{jobs:?}");
    let j = by_name(&jobs);
    assert!(j["d"].deps.is_empty());
    assert_eq!(j["t[s=0]"].deps, vec![j["d"].id.clone()]);
    assert_eq!(j["t[s=1]"].deps, vec![j["d"].id.clone()]);
    let mut e_deps = j["e"].deps.clone();
    e_deps.sort();
    let mut want = vec![
        j["d"].id.clone(),
        j["t[s=0]"].id.clone(),
        j["t[s=1]"].id.clone(),
    ];
    want.sort();
    assert_eq!(e_deps, want);
    assert_eq!(j["r"].deps, vec![j["e"].id.clone()]);
    assert_eq!(j["finish"].deps.len(), 5);
    for job in &jobs {
        assert!(
            job.args.iter().any(|a| a == "--kill-on-invalid-dep=yes"),
            "{job:?}"
        );
        assert!(job.args.iter().any(|a| a == "--partition=batch"), "{job:?}");
    }
    assert!(j["t[s=0]"].args.iter().any(|a| a == "--gpus=2"));
    assert!(j["t[s=0]"].args.iter().any(|a| a == "--time=1:00:00"));
    assert!(!j["d"].args.iter().any(|a| a.starts_with("--gpus")));
    assert!(j["r"].args.iter().any(|a| a == "--cpus-per-task=1"));

    // Everything is queued: a second submission submits nothing.
    let (code, _, err) = fake.out(&["run", "--executor", "slurm", "exp.json"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("0 submitted, 5 already queued or running"),
        "{err}"
    );
    assert_eq!(fake.jobs().len(), 6);

    // `inoc status` while queued.
    let (code, out, _) = fake.out(&["status", "exp.json"]);
    assert_eq!(code, 0);
    assert!(
        out.lines()
            .any(|l| l.starts_with("t[s=0]") && l.contains("pending")),
        "{out}"
    );

    // The cluster runs the jobs in dependency order; each step computes
    // once, in its own process.
    for name in ["d", "t[s=0]", "t[s=1]", "e", "r", "finish"] {
        assert_eq!(fake.run_job(&j[name]), 0, "{name}");
    }
    assert_eq!(env.oplog().len(), 5, "{:?}", env.oplog());
    let (code, out, _) = fake.out(&["status", "exp.json", "--format", "json"]);
    assert_eq!(code, 0, "{out}");
    let st: Json = serde_json::from_str(&out).unwrap();
    assert!(st["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["state"] == "done"));
    let folder = std::path::PathBuf::from(st["folder"].as_str().unwrap());
    assert_eq!(outputs(&folder), outputs(&local_folder));
    assert_eq!(
        std::fs::read(folder.join("r/report.md")).unwrap(),
        std::fs::read(local_folder.join("r/report.md")).unwrap()
    );

    // Stored: nothing to submit, the run folder is written here.
    let (code, out, err) = fake.out(&["run", "--executor", "slurm", "exp.json"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("nothing to submit"), "{err}");
    assert!(out
        .trim_end()
        .ends_with(|c: char| c.is_ascii_alphanumeric()));
    assert_eq!(fake.jobs().len(), 6);
}

#[test]
fn a_failed_step_is_reported_its_dependents_cancelled_and_it_is_resubmitted() {
    let env = Env::new();
    let mut p = program(&Exp::default());
    // `d` sleeps, so that its job can be stopped (as a preempted job is).
    if let Value::Call(c) = &mut p.nodes[0].value {
        c.args.insert("sleep_ms".into(), Value::Int(60_000));
    }
    env.write("exp.json", &p);
    let fake = Fake::new(&env);
    let (code, _, err) = fake.out(&["run", "--executor", "slurm", "exp.json"]);
    assert_eq!(code, 0, "{err}");
    let j = by_name(&fake.jobs());
    let mut child = Command::new("sh")
        .arg(&j["d"].script)
        .current_dir(env.path(""))
        .env("INOC_TEST_OPS", "1")
        .env("INOC_TEST_OPLOG", env.path("oplog"))
        .env("SLURM_JOB_ID", &j["d"].id)
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while !env.oplog().iter().any(|l| l.starts_with("t_data")) {
        assert!(t0.elapsed().as_secs() < 60, "the job of `d` never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    fake.set_state(&j["d"].id, "FAILED", "NonZeroExitCode");
    // Slurm cancels the dependents (kill-on-invalid-dep).
    for name in ["t[s=0]", "t[s=1]", "e", "r", "finish"] {
        fake.set_state(&j[name].id, "CANCELLED", "DependencyNeverSatisfied");
    }
    let (code, out, err) = fake.out(&["status", "exp.json"]);
    assert_eq!(code, 1, "{out}{err}");
    let line = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line("d").contains("failed"), "{out}");
    assert!(line("t[s=0]").contains("cancelled"), "{out}");
    assert!(line("e").contains("cancelled"), "{out}");
    assert!(line("r").contains("cancelled"), "{out}");
    assert!(out.contains("interrupted"), "the failure's message: {out}");
    assert!(out.contains("results: none"), "{out}");
    assert!(err.contains("step `d`"), "{err}");

    // A re-run resubmits the failed step and what it cancelled.
    let (code, _, err) = fake.out(&["run", "--executor", "slurm", "exp.json"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("step `d` had failed in job"), "{err}");
    assert!(err.contains("5 submitted"), "{err}");
    assert_eq!(fake.jobs().len(), 12);
}

#[test]
fn executor_comes_from_the_environment_and_options_are_checked() {
    let env = Env::new();
    env.write("exp.json", &program(&Exp::default()));
    let fake = Fake::new(&env);
    let (code, _, err) = fake.out(&["run", "exp.json", "--wait"]);
    assert_eq!(code, 2, "{err}");
    let mut c = fake.cmd(&["run", "exp.json"]);
    let o = c.env("INOC_EXECUTOR", "slurm").output().unwrap();
    assert!(o.status.success());
    assert_eq!(fake.jobs().len(), 6);
    let o = fake
        .cmd(&["run", "exp.json"])
        .env("INOC_EXECUTOR", "cloud")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let (code, _, err) = fake.out(&[
        "run",
        "--executor",
        "slurm",
        "exp.json",
        "--resources",
        "tranin:gpus=1",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no operation is called `tranin`"), "{err}");
    let (code, _, err) = fake.out(&[
        "run",
        "--executor",
        "slurm",
        "exp.json",
        "--resources",
        "gpus=x",
    ]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn resources_from_the_spec_its_settings_and_the_command_line() {
    let env = Env::new();
    std::fs::write(
        env.path("s.inoc"),
        "import \"stdlib/world.inoc\" as world\n\
         let slurm = {world_math = \"cpus=3,time=10\", all = \"partition=p\"}\n\
         # inoc: allow(unused-declaration)\n\
         dataset d = world.math(n = 4, seed = 0)\n",
    )
    .unwrap();
    let fake = Fake::new(&env);
    // The checker puts them into the IR.
    let (code, ir, err) = fake.out(&["check", "--emit-ir", "s.inoc"]);
    assert_eq!(code, 0, "{err}");
    assert!(ir.contains("\"resources\""), "{ir}");
    assert!(!err.contains("W0101"), "`let slurm` is used: {err}");
    let arg = |job: &Job, p: &str| job.args.iter().find(|a| a.starts_with(p)).cloned();
    let (code, _, err) = fake.out(&[
        "run",
        "--executor",
        "slurm",
        "s.inoc",
        "--resources",
        "world_math:cpus=5",
    ]);
    assert_eq!(code, 0, "{err}");
    let j = by_name(&fake.jobs());
    assert_eq!(
        arg(&j["d"], "--cpus-per-task="),
        Some("--cpus-per-task=5".into())
    );
    assert_eq!(arg(&j["d"], "--time="), Some("--time=10".into()));
    assert_eq!(arg(&j["d"], "--partition="), Some("--partition=p".into()));
    assert_eq!(
        arg(&j["finish"], "--partition="),
        Some("--partition=p".into())
    );
    assert_eq!(arg(&j["finish"], "--time="), None);
    // `--set` replaces the spec's value (another submission; the first
    // one's job for `d`, which it would reuse while queued, was cancelled).
    fake.set_state(&j["d"].id, "CANCELLED", "None");
    let (code, _, err) = fake.out(&[
        "run",
        "--executor",
        "slurm",
        "s.inoc",
        "--set",
        "slurm={all = \"partition=q\"}",
    ]);
    assert_eq!(code, 0, "{err}");
    let jobs = fake.jobs();
    let d = jobs.iter().rev().find(|j| j.name == "d").unwrap();
    assert_eq!(arg(d, "--partition="), Some("--partition=q".into()));
    assert_eq!(arg(d, "--cpus-per-task="), Some("--cpus-per-task=1".into()));
}

#[test]
fn a_stopped_training_job_resumes_from_its_checkpoint_in_its_next_job() {
    let mut x = Exp::default();
    x.steps = [40, 2];
    x.sleep_ms = [25, 0];
    let local = Env::new();
    local.write("exp.json", &program(&x));
    let local_folder = local.run("exp.json");

    let env = Env::new();
    env.write("exp.json", &program(&x));
    let fake = Fake::new(&env);
    let (code, _, err) = fake.out(&["run", "--executor", "slurm", "exp.json"]);
    assert_eq!(code, 0, "{err}");
    let j = by_name(&fake.jobs());
    assert_eq!(fake.run_job(&j["d"]), 0);
    // The training job is stopped part way (a time limit, a preemption).
    let mut child = Command::new("sh")
        .arg(&j["t[s=0]"].script)
        .current_dir(env.path(""))
        .env("INOC_TEST_OPS", "1")
        .env("INOC_TEST_OPLOG", env.path("oplog"))
        .env("SLURM_JOB_ID", &j["t[s=0]"].id)
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    // Stopped once it has written a checkpoint (into the store's scratch).
    let checkpointed = || {
        std::fs::read_dir(env.path("cache/scratch"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.path().join("ckpt.json").exists())
    };
    while !checkpointed() {
        assert!(
            t0.elapsed().as_secs() < 60,
            "the training job never checkpointed"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    assert_eq!(child.wait().unwrap().code(), Some(1));
    fake.set_state(&j["t[s=0]"].id, "FAILED", "NonZeroExitCode");
    for name in ["e", "r", "finish"] {
        fake.set_state(&j[name].id, "CANCELLED", "DependencyNeverSatisfied");
    }
    // Resubmitted: the stopped step and what it cancelled; `t[s=1]` is
    // still queued and keeps its job.
    let (code, _, err) = fake.out(&["run", "--executor", "slurm", "exp.json"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("3 submitted, 1 already queued"), "{err}");
    let jobs = fake.jobs();
    let newest = |name: &str| jobs.iter().rev().find(|j| j.name == name).unwrap().clone();
    assert_eq!(fake.run_job(&newest("t[s=0]")), 0);
    let resumed: Vec<String> = env
        .oplog()
        .into_iter()
        .filter(|l| l.starts_with("t_train.resume t[s=0]"))
        .collect();
    assert_eq!(resumed.len(), 1, "{:?}", env.oplog());
    let at: u64 = resumed[0].rsplit(' ').next().unwrap().parse().unwrap();
    assert!(at > 0 && at < 40, "resumed at step {at}");
    for name in ["t[s=1]", "e", "r", "finish"] {
        assert_eq!(fake.run_job(&newest(name)), 0, "{name}");
    }
    let (_, out, _) = fake.out(&["status", "exp.json", "--format", "json"]);
    let st: Json = serde_json::from_str(&out).unwrap();
    let folder = std::path::PathBuf::from(st["folder"].as_str().unwrap());
    assert_eq!(outputs(&folder), outputs(&local_folder));
}

#[test]
fn another_submission_sharing_steps_depends_on_their_queued_jobs() {
    let env = Env::new();
    env.write("exp.json", &program(&Exp::default()));
    // The same experiment with another report title: only `r` differs.
    let mut other = program(&Exp::default());
    if let Value::Call(c) = &mut other.nodes[4].value {
        c.args.insert("title".into(), Value::Str("U".into()));
    }
    env.write("other.json", &other);
    let fake = Fake::new(&env);
    let (code, _, err) = fake.out(&["run", "--executor", "slurm", "exp.json"]);
    assert_eq!(code, 0, "{err}");
    let first = by_name(&fake.jobs());
    let (code, _, err) = fake.out(&["run", "--executor", "slurm", "other.json"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("1 submitted, 4 already queued or running"),
        "{err}"
    );
    let jobs = fake.jobs();
    assert_eq!(jobs.len(), 8, "{jobs:?}");
    let r = &jobs[6];
    assert_eq!(
        (r.name.as_str(), r.deps.clone()),
        ("r", vec![first["e"].id.clone()])
    );
}
