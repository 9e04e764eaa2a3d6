//! The Slurm executor: every step that is not cached becomes one `sbatch`
//! job running `inoc exec-step` on that one step.
//!
//! The store is the source of truth; Slurm keeps no result. Before
//! submitting, the checked program (the IR, the settings, where models
//! compute) is written into the store as a *bundle* under the hash of its
//! contents, so a job needs nothing from the submitting process but the
//! bundle id and its step's index. Everything the executor records lives
//! beside it, under `<store>/slurm/<bundle>/`:
//!
//! - `bundle.json`: the bundle;
//! - `jobs.json`: the job id of every step submitted (and of the finishing
//!   job, which writes the run folder once every step is stored);
//! - `scripts/<step>.sh`, `logs/<step>.<job>.out` (the job's output) and
//!   `logs/<step>.log` (the step's own log);
//! - `failed/<step>.json`: why a step failed (its diagnostic), until it
//!   succeeds.
//!
//! `slurm/latest/<spec hash>` names the last bundle submitted for a spec
//! (what `inoc status` shows); `slurm/keys/<key>.json` the last job of a
//! step's key (provisional while an input is pending), so that another
//! submission sharing the step (another `--set`) depends on that job
//! instead of submitting it again. A job depends (`afterok`) on the jobs of its
//! inputs, with `--kill-on-invalid-dep=yes`, so a failed step cancels its
//! dependents. Re-running the submitter finds the recorded jobs: it
//! resubmits nothing cached, queued or running, and resubmits what failed
//! or vanished. The store's per-key locks still guard each step, so two
//! submitters (or a local run) never compute a key twice.
//!
//! Sweep cells are submitted one job each, not as job arrays: a cell's
//! inputs are usually other cells (`ft[seed=1]` reads `data[seed=1]`), and
//! an array's dependency applies to every task, so an array would wait for
//! the slowest input of any cell and one failed input would cancel every
//! cell.

use super::{ExecError, Options, StepStatus};
use crate::cache::{write_atomic, Store};
use crate::plan::{Plan, StepId};
use crate::runtime::{Compute, DeviceChoice};
use crate::sema::ir::DeclKind;
pub use crate::sema::resources::{ResourceSetting, Resources};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Version of the bundle's layout (part of its id).
pub const BUNDLE_SCHEMA: u32 = 1;

/// Everything a step job needs to rebuild the plan: written into the store
/// before any job is submitted.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Bundle {
    pub schema: u32,
    pub inoc_version: String,
    /// The spec as typed (`Program::spec`), for the run folder's name.
    pub spec: String,
    /// The submitter's working directory: jobs run there (paths in the
    /// program are relative to it).
    pub cwd: PathBuf,
    /// Absolute runs folder of the finishing job.
    pub runs_dir: PathBuf,
    /// `--device` resolved on the submitting machine (`cpu`, `cuda:N`,
    /// `metal:N`), and `--dtype`.
    pub device: String,
    pub dtype: Option<String>,
    pub settings: Vec<crate::sema::Setting>,
    /// The spec's sources, for the spec hash of provenance.
    pub spec_bytes: String,
    pub program: crate::sema::ir::Program,
}

impl Bundle {
    /// Its id: the hash of its canonical JSON.
    pub fn id(&self) -> String {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        blake3::hash(&bytes).to_hex()[..32].to_string()
    }

    /// Where models compute, as the submitter asked.
    pub fn compute(&self) -> Result<Compute, String> {
        Ok(Compute {
            device: DeviceChoice::parse(&self.device)?,
            precision: self
                .dtype
                .as_deref()
                .map(crate::runtime::loader::Precision::parse)
                .transpose()?,
        })
    }
}

/// `--device auto` resolved here, so every job computes (and keys) the
/// same way whatever node it lands on.
pub fn resolve_device(d: DeviceChoice) -> String {
    let d = match d {
        DeviceChoice::Auto if candle_core::utils::cuda_is_available() => DeviceChoice::Cuda(0),
        DeviceChoice::Auto if candle_core::utils::metal_is_available() => DeviceChoice::Metal(0),
        DeviceChoice::Auto => DeviceChoice::Cpu,
        d => d,
    };
    match d {
        DeviceChoice::Cuda(i) => format!("cuda:{i}"),
        DeviceChoice::Metal(i) => format!("metal:{i}"),
        _ => "cpu".into(),
    }
}

fn dtype_name(p: crate::runtime::loader::Precision) -> &'static str {
    match p {
        crate::runtime::loader::Precision::F32 => "f32",
        crate::runtime::loader::Precision::BF16 => "bf16",
        crate::runtime::loader::Precision::F16 => "f16",
    }
}

impl Bundle {
    /// The bundle of `program` (checked, not yet planned) run with `opts`.
    pub fn new(program: &crate::sema::ir::Program, opts: &Options) -> std::io::Result<Bundle> {
        let cwd = std::env::current_dir()?;
        let runs_dir = if opts.runs_dir.is_absolute() {
            opts.runs_dir.clone()
        } else {
            cwd.join(&opts.runs_dir)
        };
        Ok(Bundle {
            schema: BUNDLE_SCHEMA,
            inoc_version: env!("CARGO_PKG_VERSION").into(),
            spec: program.spec.clone(),
            cwd,
            runs_dir,
            device: resolve_device(opts.compute.device),
            dtype: opts.compute.precision.map(|p| dtype_name(p).to_string()),
            settings: opts.settings.clone(),
            spec_bytes: String::from_utf8_lossy(&opts.spec_bytes).into_owned(),
            program: program.clone(),
        })
    }
}

/// The default resources of a step: one CPU for reports, datasets and
/// every step that loads no model; four CPUs for steps that train, sample or
/// score models, and one GPU when models compute on CUDA.
pub fn default_resources(models: bool, kind: DeclKind, compute: Compute) -> Resources {
    if !models || kind == DeclKind::Report {
        return Resources {
            cpus: Some(1),
            mem: Some("4G".into()),
            ..Resources::default()
        };
    }
    Resources {
        cpus: Some(4),
        mem: Some("16G".into()),
        gpus: matches!(compute.device, DeviceChoice::Cuda(_)).then_some(1),
        ..Resources::default()
    }
}

/// How to submit: resources and whether to wait.
#[derive(Clone, Debug, Default)]
pub struct SlurmOptions {
    /// Applied in order over the defaults (later ones win).
    pub resources: Vec<ResourceSetting>,
    /// Extra `sbatch` options for every job (`$INOC_SBATCH_ARGS`).
    pub extra: Vec<String>,
}

impl SlurmOptions {
    /// The resources of one step.
    pub fn for_step(&self, op: &str, models: bool, kind: DeclKind, compute: Compute) -> Resources {
        let mut r = default_resources(models, kind, compute);
        for s in &self.resources {
            if s.op.as_deref().is_none_or(|o| o == op) {
                r.overlay(&s.resources);
            }
        }
        r
    }
}

/// A job recorded for a step (or the finishing job).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct JobRecord {
    pub job: String,
    pub step: String,
    pub submitted: String,
    /// The job's output file.
    pub out: PathBuf,
}

/// `jobs.json`: the jobs of a bundle, by step name.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Jobs {
    pub steps: BTreeMap<String, JobRecord>,
    pub finish: Option<JobRecord>,
}

/// `failed/<step>.json`: a step's failure, written by its job.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Failure {
    pub step: String,
    pub message: String,
    pub log: String,
    pub at: Option<crate::syntax::Span>,
    pub job: Option<String>,
}

impl Failure {
    /// The error a local run would have raised.
    pub fn error(&self) -> ExecError {
        ExecError::StepFailed {
            step: self.step.clone(),
            message: self.message.clone(),
            log: self.log.clone(),
            at: self.at,
        }
    }
}

/// `finished.json`: what the finishing job wrote.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Finished {
    pub job: Option<String>,
    pub folder: PathBuf,
}

/// The executor's folder of one bundle in a store.
#[derive(Clone, Debug)]
pub struct BundleDir {
    pub dir: PathBuf,
    pub id: String,
}

fn json_read<T: for<'de> Deserialize<'de>>(p: &Path) -> Option<T> {
    serde_json::from_slice(&fs::read(p).ok()?).ok()
}

fn json_write<T: Serialize>(p: &Path, v: &T) -> std::io::Result<()> {
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent)?;
    }
    write_atomic(
        p,
        &serde_json::to_vec_pretty(v).map_err(std::io::Error::other)?,
    )
}

/// A bundle's name for a step in file names (its run-folder name).
pub fn step_file(plan: &Plan, id: StepId) -> String {
    super::folder_names(
        &plan
            .steps
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
    )[id]
        .clone()
}

fn spec_hash(spec_id: &str) -> String {
    blake3::hash(spec_id.as_bytes()).to_hex()[..16].to_string()
}

impl BundleDir {
    pub fn new(store: &Store, id: &str) -> BundleDir {
        BundleDir {
            dir: store.root().join("slurm").join(id),
            id: id.to_string(),
        }
    }

    /// Writes the bundle (once) and points the spec's `latest` at it.
    pub fn save(store: &Store, bundle: &Bundle) -> std::io::Result<BundleDir> {
        let d = BundleDir::new(store, &bundle.id());
        if json_read::<Bundle>(&d.dir.join("bundle.json")).map(|b| b.id()) != Some(d.id.clone()) {
            json_write(&d.dir.join("bundle.json"), bundle)?;
        }
        let spec = super::spec_id(&bundle.spec);
        let latest = store.root().join("slurm").join("latest");
        fs::create_dir_all(&latest)?;
        write_atomic(&latest.join(spec_hash(&spec)), d.id.as_bytes())?;
        Ok(d)
    }

    /// The last bundle submitted for a spec (its canonical path).
    pub fn latest(store: &Store, spec_id: &str) -> Option<BundleDir> {
        let p = store
            .root()
            .join("slurm")
            .join("latest")
            .join(spec_hash(spec_id));
        let id = fs::read_to_string(p).ok()?;
        let id = id.trim();
        (!id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit()))
            .then(|| BundleDir::new(store, id))
    }

    pub fn bundle(&self) -> Result<Bundle, String> {
        let p = self.dir.join("bundle.json");
        let bytes = fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", p.display()))
    }

    pub fn jobs(&self) -> Jobs {
        json_read(&self.dir.join("jobs.json")).unwrap_or_default()
    }

    pub fn save_jobs(&self, jobs: &Jobs) -> std::io::Result<()> {
        json_write(&self.dir.join("jobs.json"), jobs)
    }

    fn failure_path(&self, file: &str) -> PathBuf {
        self.dir.join("failed").join(format!("{file}.json"))
    }

    pub fn failure(&self, file: &str) -> Option<Failure> {
        json_read(&self.failure_path(file))
    }

    pub fn set_failure(&self, file: &str, f: Option<&Failure>) -> std::io::Result<()> {
        match f {
            Some(f) => json_write(&self.failure_path(file), f),
            None => match fs::remove_file(self.failure_path(file)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        }
    }

    pub fn finished(&self) -> Option<Finished> {
        json_read(&self.dir.join("finished.json"))
    }

    pub fn set_finished(&self, f: &Finished) -> std::io::Result<()> {
        json_write(&self.dir.join("finished.json"), f)
    }

    /// The step's own log (copied from the store's staging by the job).
    pub fn step_log(&self, file: &str) -> PathBuf {
        self.dir.join("logs").join(format!("{file}.log"))
    }

    /// Holds the bundle's submission lock while `f` runs (two submitters
    /// of one bundle take turns).
    pub fn locked<T>(&self, f: impl FnOnce() -> T) -> std::io::Result<T> {
        use fs4::fs_std::FileExt;
        fs::create_dir_all(&self.dir)?;
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join("submit.lock"))?;
        FileExt::lock_exclusive(&file)?;
        let r = f();
        let _ = FileExt::unlock(&file);
        Ok(r)
    }
}

/// A job's state in the queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueState {
    /// Slurm's state (`PENDING`, `RUNNING`, `COMPLETED`, `FAILED`, ...).
    pub state: String,
    /// Slurm's reason (`Dependency`, `DependencyNeverSatisfied`, ...).
    pub reason: String,
}

impl QueueState {
    /// Queued or running: it will still finish on its own.
    pub fn active(&self) -> bool {
        matches!(
            self.state.as_str(),
            "PENDING"
                | "RUNNING"
                | "CONFIGURING"
                | "COMPLETING"
                | "REQUEUED"
                | "REQUEUE_FED"
                | "REQUEUE_HOLD"
                | "RESIZING"
                | "SUSPENDED"
                | "STOPPED"
                | "SIGNALING"
                | "STAGE_OUT"
        ) && !(self.state == "PENDING" && self.reason == "DependencyNeverSatisfied")
    }
}

/// The cluster: submits jobs and reports their states. [`Slurm`] runs the
/// real commands; tests use a fake.
pub trait Queue {
    /// Submits a batch script with `sbatch` options; returns the job id.
    fn submit(&self, script: &Path, args: &[String]) -> Result<String, String>;
    /// The states of the jobs the queue still knows, by job id.
    fn states(&self, jobs: &[String]) -> Result<BTreeMap<String, QueueState>, String>;
}

/// The real cluster: `sbatch` and `squeue` from `$PATH`.
pub struct Slurm;

fn command_output(mut c: Command, what: &str) -> Result<String, String> {
    let out = c.output().map_err(|e| {
        format!("cannot run `{what}`: {e} (is this a Slurm login node with `{what}` on PATH?)")
    })?;
    if !out.status.success() {
        return Err(format!(
            "`{what}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Queue for Slurm {
    fn submit(&self, script: &Path, args: &[String]) -> Result<String, String> {
        let mut c = Command::new("sbatch");
        c.arg("--parsable").args(args).arg(script);
        let out = command_output(c, "sbatch")?;
        // `--parsable`: `ID` or `ID;CLUSTER`.
        let id = out.trim().split(';').next().unwrap_or("").to_string();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("`sbatch` printed no job id: `{}`", out.trim()));
        }
        Ok(id)
    }

    fn states(&self, jobs: &[String]) -> Result<BTreeMap<String, QueueState>, String> {
        if jobs.is_empty() {
            return Ok(BTreeMap::new());
        }
        // All of this user's jobs the controller still knows (finished ones
        // stay for `MinJobAge`); asking for ids it forgot would fail.
        let mut c = Command::new("squeue");
        c.args(["--noheader", "--states=all", "--me", "--format=%i|%T|%r"]);
        let out = command_output(c, "squeue")?;
        Ok(parse_squeue(&out)
            .into_iter()
            .filter(|(id, _)| jobs.contains(id))
            .collect())
    }
}

fn parse_squeue(out: &str) -> BTreeMap<String, QueueState> {
    out.lines()
        .filter_map(|l| {
            let mut it = l.trim().splitn(3, '|');
            let id = it.next()?.trim().to_string();
            let state = it.next()?.trim().to_string();
            let reason = it.next().unwrap_or("").trim().to_string();
            (!id.is_empty()).then_some((id, QueueState { state, reason }))
        })
        .collect()
}

/// Single-quotes a string for `sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// What the submitter did.
#[derive(Debug, Default)]
pub struct Submission {
    pub bundle: String,
    pub cached: usize,
    /// Steps submitted now: (name, job id).
    pub submitted: Vec<(String, String)>,
    /// Steps whose earlier job is still queued or running: (name, job id).
    pub kept: Vec<(String, String)>,
    /// Steps that had failed before and were resubmitted: their failures.
    pub resubmitted_failures: Vec<Failure>,
    /// The finishing job (writes the run folder), when any step runs.
    pub finish: Option<String>,
}

/// Writes the bundle and submits one job per step that is not cached,
/// depending on its inputs' jobs, then the finishing job. `plan` is
/// `program` planned; `statuses` is [`super::inspect`]'s answer for it.
#[allow(clippy::too_many_arguments)]
pub fn submit(
    program: &crate::sema::ir::Program,
    plan: &Plan,
    statuses: &[StepStatus],
    store: &Store,
    registry: &super::ops::Registry,
    opts: &Options,
    slurm: &SlurmOptions,
    queue: &dyn Queue,
    exe: &Path,
) -> Result<Submission, ExecError> {
    let bundle = Bundle::new(program, opts)?;
    let dir = BundleDir::save(store, &bundle)?;
    let files: Vec<String> = (0..plan.steps.len()).map(|i| step_file(plan, i)).collect();
    dir.locked(|| {
        let mut jobs = dir.jobs();
        // Jobs of other submissions (another `--set`, another spec) for the
        // same key, pending inputs' keys included: reused, not doubled.
        let by_key: BTreeMap<StepId, JobRecord> = plan
            .order
            .iter()
            .filter(|&&id| statuses[id].run.is_some())
            .filter_map(|&id| Some((id, json_read(&key_record(store, &statuses[id].key))?)))
            .collect();
        let recorded: Vec<String> = jobs
            .steps
            .values()
            .chain(jobs.finish.iter())
            .chain(by_key.values())
            .map(|r| r.job.clone())
            .collect();
        let states = queue.states(&recorded).map_err(std::io::Error::other)?;
        let active = |r: &JobRecord| states.get(&r.job).is_some_and(QueueState::active);
        let mut sub = Submission {
            bundle: dir.id.clone(),
            ..Submission::default()
        };
        let mut job_of: BTreeMap<StepId, String> = BTreeMap::new();
        let mut fresh = false;
        for &id in &plan.order {
            let step = &plan.steps[id];
            let st = &statuses[id];
            if st.run.is_none() {
                sub.cached += 1;
                dir.set_failure(&files[id], None)?;
                continue;
            }
            if let Some(r) = jobs.steps.get(&step.name).filter(|r| active(r)) {
                sub.kept.push((step.name.clone(), r.job.clone()));
                job_of.insert(id, r.job.clone());
                continue;
            }
            if let Some(r) = by_key.get(&id).filter(|r| active(r)) {
                sub.kept.push((step.name.clone(), r.job.clone()));
                job_of.insert(id, r.job.clone());
                jobs.steps.insert(step.name.clone(), r.clone());
                dir.save_jobs(&jobs)?;
                continue;
            }
            if let Some(f) = dir.failure(&files[id]) {
                sub.resubmitted_failures.push(f);
                dir.set_failure(&files[id], None)?;
            }
            let deps: Vec<&str> = step
                .deps
                .iter()
                .filter_map(|d| job_of.get(d).map(String::as_str))
                .collect();
            let op = registry.get(&step.op);
            let res = slurm.for_step(
                &step.op,
                op.is_some_and(|o| o.computes_with_models()),
                step.kind,
                opts.compute,
            );
            let job = submit_one(
                &dir,
                queue,
                exe,
                store,
                &files[id],
                &format!("inoc:{}", step.name),
                &format!("--step={id}"),
                &deps,
                &res,
                slurm,
            )?;
            jobs.steps.insert(step.name.clone(), job.clone());
            dir.save_jobs(&jobs)?;
            json_write(&key_record(store, &st.key), &job)?;
            sub.submitted.push((step.name.clone(), job.job.clone()));
            job_of.insert(id, job.job);
            fresh = true;
        }
        if !job_of.is_empty() {
            let keep = jobs.finish.as_ref().filter(|r| !fresh && active(r));
            match keep {
                Some(r) => sub.finish = Some(r.job.clone()),
                None => {
                    let deps: Vec<&str> = job_of.values().map(String::as_str).collect();
                    // The defaults of a report, with the settings for every step.
                    let res = slurm.for_step("", false, DeclKind::Report, opts.compute);
                    let job = submit_one(
                        &dir,
                        queue,
                        exe,
                        store,
                        "finish",
                        "inoc:finish",
                        "--finish",
                        &deps,
                        &res,
                        slurm,
                    )?;
                    sub.finish = Some(job.job.clone());
                    jobs.finish = Some(job);
                    dir.save_jobs(&jobs)?;
                }
            }
        }
        Ok::<_, ExecError>(sub)
    })?
}

#[allow(clippy::too_many_arguments)]
fn submit_one(
    dir: &BundleDir,
    queue: &dyn Queue,
    exe: &Path,
    store: &Store,
    file: &str,
    name: &str,
    what: &str,
    deps: &[&str],
    res: &Resources,
    slurm: &SlurmOptions,
) -> Result<JobRecord, ExecError> {
    let script = dir.dir.join("scripts").join(format!("{file}.sh"));
    let root = fs::canonicalize(store.root()).unwrap_or_else(|_| store.root().to_path_buf());
    let text = format!(
        "#!/bin/sh\n# {name}: written by `inoc run --executor slurm`\nexport INOC_CACHE={}\nexec {} exec-step {} {what}\n",
        sh_quote(&root.to_string_lossy()),
        sh_quote(&exe.to_string_lossy()),
        dir.id,
    );
    if let Some(p) = script.parent() {
        fs::create_dir_all(p)?;
    }
    fs::create_dir_all(dir.dir.join("logs"))?;
    write_atomic(&script, text.as_bytes())?;
    let out = dir.dir.join("logs").join(format!("{file}.%j.out"));
    let mut args = vec![
        format!("--job-name={name}"),
        format!("--output={}", out.display()),
        format!("--chdir={}", dir_cwd(dir)?.display()),
        "--kill-on-invalid-dep=yes".to_string(),
        // Preempted jobs go back into the queue and resume from their
        // checkpoints (the key's scratch survives).
        "--requeue".to_string(),
    ];
    if !deps.is_empty() {
        args.push(format!("--dependency=afterok:{}", deps.join(":")));
    }
    args.extend(res.args());
    args.extend(slurm.extra.iter().cloned());
    let job = queue
        .submit(&script, &args)
        .map_err(|e| ExecError::StepFailed {
            step: name.trim_start_matches("inoc:").to_string(),
            message: format!("submitting its job: {e}"),
            log: script.display().to_string(),
            at: None,
        })?;
    Ok(JobRecord {
        out: PathBuf::from(out.to_string_lossy().replace("%j", &job)),
        job,
        step: name.trim_start_matches("inoc:").to_string(),
        submitted: chrono::Utc::now().to_rfc3339(),
    })
}

/// `slurm/keys/<key>.json`: the last job submitted for a step's key (the
/// provisional key while an input is pending), whatever the submission.
fn key_record(store: &Store, key: &str) -> PathBuf {
    store
        .root()
        .join("slurm")
        .join("keys")
        .join(format!("{key}.json"))
}

fn dir_cwd(dir: &BundleDir) -> std::io::Result<PathBuf> {
    dir.bundle().map(|b| b.cwd).map_err(std::io::Error::other)
}

/// What `inoc status` and `--wait` show for one step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepState {
    pub name: String,
    pub op: String,
    /// `done`, `pending`, `running`, `failed`, `cancelled`, `lost`
    /// (the job ended without a result), `not submitted`.
    pub state: String,
    pub job: Option<String>,
    /// Slurm's state and reason, when the queue knows the job.
    pub queue: Option<String>,
    /// The failure's message (failed) or the failed input (cancelled).
    pub detail: Option<String>,
    /// The last lines of its log (failed and lost steps).
    pub log_tail: Vec<String>,
    pub log: Option<PathBuf>,
}

/// The last `n` lines of a file.
pub fn tail(p: &Path, n: usize) -> Vec<String> {
    let Ok(text) = fs::read(p) else {
        return vec![];
    };
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// The state of every step of a submitted bundle: the store says what is
/// done and what failed; the queue what is pending or running.
pub fn states(
    plan: &Plan,
    statuses: &[StepStatus],
    dir: &BundleDir,
    queue: &dyn Queue,
) -> (Vec<StepState>, Option<String>) {
    let jobs = dir.jobs();
    let ids: Vec<String> = jobs
        .steps
        .values()
        .chain(jobs.finish.iter())
        .map(|r| r.job.clone())
        .collect();
    let (q, warning) = match queue.states(&ids) {
        Ok(q) => (q, None),
        Err(e) => (BTreeMap::new(), Some(e)),
    };
    let mut out: Vec<Option<StepState>> = vec![None; plan.steps.len()];
    for &id in &plan.order {
        let step = &plan.steps[id];
        let file = step_file(plan, id);
        let rec = jobs.steps.get(&step.name);
        let qs = rec.and_then(|r| q.get(&r.job));
        let mut s = StepState {
            name: step.name.clone(),
            op: step.op.clone(),
            state: String::new(),
            job: rec.map(|r| r.job.clone()),
            queue: qs.map(|q| {
                if q.reason.is_empty() || q.reason == "None" {
                    q.state.clone()
                } else {
                    format!("{} ({})", q.state, q.reason)
                }
            }),
            detail: None,
            log_tail: vec![],
            log: rec.map(|r| r.out.clone()),
        };
        let failed_input = step.deps.iter().find_map(|d| {
            out[*d]
                .as_ref()
                .filter(|x| matches!(x.state.as_str(), "failed" | "cancelled" | "lost"))
                .map(|x| x.name.clone())
        });
        s.state = if statuses[id].run.is_none() {
            "done".into()
        } else if let Some(f) = dir.failure(&file) {
            s.detail = Some(f.message.clone());
            let log = dir.step_log(&file);
            let p: &Path = if log.exists() {
                &log
            } else {
                Path::new(&f.log)
            };
            s.log_tail = tail(p, 10);
            if s.log_tail.is_empty() {
                if let Some(r) = rec {
                    s.log_tail = tail(&r.out, 10);
                }
            }
            "failed".into()
        } else if qs.is_some_and(|q| q.active()) {
            let q = qs.expect("checked");
            if q.state == "PENDING" {
                "pending".into()
            } else {
                "running".into()
            }
        } else if rec.is_none() {
            "not submitted".into()
        } else if let Some(input) = failed_input {
            s.detail = Some(format!("its input `{input}` did not finish"));
            "cancelled".into()
        } else {
            if let Some(r) = rec {
                s.log_tail = tail(&r.out, 10);
            }
            s.detail = Some(match qs {
                Some(q) => format!("its job ended as {} without a result", q.state),
                None => "its job ended without a result".into(),
            });
            "lost".into()
        };
        out[id] = Some(s);
    }
    (out.into_iter().flatten().collect(), warning)
}

/// Whether the finishing job of a bundle is still queued or running
/// (`None`: the queue could not be asked).
pub fn finish_active(dir: &BundleDir, queue: &dyn Queue) -> Option<bool> {
    let Some(f) = dir.jobs().finish else {
        return Some(false);
    };
    let states = queue.states(std::slice::from_ref(&f.job)).ok()?;
    Some(states.get(&f.job).is_some_and(QueueState::active))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_per_kind_and_overrides_in_order() {
        let cpu = Compute::default();
        let cuda = Compute {
            device: DeviceChoice::Cuda(0),
            precision: None,
        };
        let opts = SlurmOptions {
            resources: vec![
                ResourceSetting::parse("partition=batch").unwrap(),
                ResourceSetting::parse("finetune:gpus=2,partition=gpu").unwrap(),
            ],
            extra: vec![],
        };
        let report = opts.for_step("table", false, DeclKind::Report, cuda);
        assert_eq!(report.cpus, Some(1));
        assert_eq!(report.gpus, None);
        assert_eq!(report.partition.as_deref(), Some("batch"));
        let ft = opts.for_step("finetune", true, DeclKind::Train, cuda);
        assert_eq!((ft.gpus, ft.partition.as_deref()), (Some(2), Some("gpu")));
        let pre = opts.for_step("pretrain", true, DeclKind::Model, cpu);
        assert_eq!((pre.gpus, pre.cpus), (None, Some(4)));
        let pre = opts.for_step("pretrain", true, DeclKind::Model, cuda);
        assert_eq!(pre.gpus, Some(1));
    }

    #[test]
    fn squeue_lines_and_active_states() {
        let q = parse_squeue(
            "12|PENDING|Dependency\n13|RUNNING|None\n14|PENDING|DependencyNeverSatisfied\n15|FAILED|NonZeroExitCode\n16|CANCELLED|Dependency\n",
        );
        assert!(q["12"].active() && q["13"].active());
        assert!(!q["14"].active() && !q["15"].active() && !q["16"].active());
        assert_eq!(sh_quote("a'b"), r"'a'\''b'");
    }
}
