//! Layer `exec`: runs a plan on the local machine.
//!
//! [`inspect`] says, without computing anything, which steps are cached and
//! why the others must run; [`run`] computes what is not cached, in
//! dependency order, independent steps in parallel on threads, each under
//! its key's lock, and writes the run's results folder
//! (`<runs>/<spec stem>/<run id>/` + `latest`) with the report artefacts,
//! the logs of the steps it ran and `provenance.json`.
//!
//! Keys are computed as inputs complete: a consumer keys on its inputs'
//! output hashes, so an input that reran to the same output leaves its
//! consumers cached (early cutoff).

pub mod estimate;
pub mod inputs;
pub mod ops;
mod page;
pub mod reporter;
pub mod resources;
pub mod slurm;

use crate::cache::{IndexEntry, Lookup, Machine, ObjectMeta, Store, META_SCHEMA};
use crate::plan::{self, canon, InputState, Plan, Step, StepId};
use ops::{Input, OpCtx, OpError, PresentCtx, Progress, Registry};
pub use reporter::{Outcome, Reporter};
use serde::Serialize;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

/// Why a step must run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reason {
    /// `new`, `input changed`, `args changed`, `file changed`,
    /// `op version changed`, `corrupt object`, `evicted`, `no implementation`.
    pub kind: String,
    /// One line for humans.
    pub text: String,
}

/// A duration for people: "<1s", "~3s", "~2 min", "~1.5 h" (plan, hover).
pub fn human_secs(s: f64) -> String {
    if s < 1.0 {
        "<1s".into()
    } else if s < 90.0 {
        format!("~{s:.0}s")
    } else if s < 5400.0 {
        format!("~{:.0} min", s / 60.0)
    } else {
        format!("~{:.1} h", s / 3600.0)
    }
}

/// What [`inspect`] found for one step.
#[derive(Clone, Debug)]
pub struct StepStatus {
    pub step: StepId,
    /// The key, or a provisional one while an input is not computed.
    pub key: String,
    pub provisional: bool,
    pub desc: Json,
    pub files: Vec<(String, String)>,
    /// `None`: cached. `Some`: must run, and why.
    pub run: Option<Reason>,
    /// Output hash when cached.
    pub output: Option<String>,
}

/// Errors of the executor.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("cache store: {0}")]
    Store(#[from] std::io::Error),
    #[error("step `{step}`: {message}")]
    Describe { step: String, message: String },
    #[error("no operation implements {} yet", unimplemented_list(.0))]
    Unimplemented(Vec<Unimplemented>),
    /// Steps that need a setting from the environment (step, what is missing).
    #[error("{}", .0.iter().map(|(s, m)| format!("step `{s}`: {m}")).collect::<Vec<_>>().join("; "))]
    Unconfigured(Vec<(String, String)>),
    #[error("step `{step}` failed: {message} (log: {log})")]
    StepFailed {
        step: String,
        message: String,
        log: String,
        /// The argument of the step that made it fail, when known.
        at: Option<crate::syntax::Span>,
    },
    #[error("interrupted; finished steps are cached and `inoc run` continues from them")]
    Interrupted,
    /// The run's results folder (not the cache) could not be written.
    #[error("cannot write the results folder {}: {source}", .path.display())]
    RunFolder {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Wraps an I/O error on the results folder `path` (not the store).
fn run_folder(path: &Path) -> impl FnOnce(std::io::Error) -> ExecError + '_ {
    move |source| ExecError::RunFolder {
        path: path.to_path_buf(),
        source,
    }
}

/// A step whose builtin has no operation in this build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unimplemented {
    pub op: String,
    pub step: String,
    /// What the operation cannot do yet (`None`: no operation at all).
    pub detail: Option<String>,
}

fn unimplemented_list(v: &[Unimplemented]) -> String {
    v.iter()
        .map(|u| match &u.detail {
            Some(d) => format!("`{}` (step `{}`: {d})", u.op, u.step),
            None => format!("`{}` (step `{}`)", u.op, u.step),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl ExecError {
    /// The error as coded diagnostics at the declarations of the steps
    /// involved (`None` for an interruption, which is not an error). Steps
    /// made for nested calls point at the call.
    pub fn diagnostics(&self, plan: &Plan) -> Vec<crate::diag::Diagnostic> {
        use crate::diag::Diagnostic;
        let span_of = |name: &str| {
            plan.steps
                .iter()
                .find(|s| s.name == name)
                .map(|s| s.span)
                .unwrap_or_default()
        };
        match self {
            ExecError::Interrupted => vec![],
            ExecError::StepFailed {
                step,
                message,
                log,
                at,
            } => {
                let d = match at.filter(|s| *s != crate::syntax::Span::default()) {
                    Some(at) => Diagnostic::error(
                        "E1001",
                        format!("step `{step}` failed: {message}"),
                        at,
                        "this made it fail",
                    )
                    .with_label(span_of(step), "in this step"),
                    None => Diagnostic::error(
                        "E1001",
                        format!("step `{step}` failed: {message}"),
                        span_of(step),
                        "this step failed",
                    ),
                };
                let log = if log.is_empty() {
                    "it failed before it started, so it has no log".to_string()
                } else {
                    format!("its log is {log}")
                };
                vec![d.with_help(format!(
                    "{log}; steps that finished are cached, so `inoc run` continues from them once this is fixed"
                ))]
            }
            ExecError::Describe { step, message } => vec![Diagnostic::error(
                "E1002",
                format!("the inputs of step `{step}` cannot be read: {message}"),
                span_of(step),
                "needs these inputs",
            )
            .with_help(
                "an input (a data file, a cached hub model) is missing or unreadable; make it available and run again",
            )],
            ExecError::Unimplemented(list) => list
                .iter()
                .map(|u| {
                    let message = match &u.detail {
                        Some(d) => format!("step `{}` cannot run in this build: {d}", u.step),
                        None => format!("no operation implements `{}` in this build", u.op),
                    };
                    Diagnostic::error(
                        "E1003",
                        message,
                        span_of(&u.step),
                        match &u.detail {
                            Some(_) => "cannot run yet".to_string(),
                            None => format!("step `{}` needs `{}`", u.step, u.op),
                        },
                    )
                    .with_help(
                        "`inoc check` accepts it, but `inoc run` cannot compute it yet; `inoc builtins` lists what this build runs",
                    )
                })
                .collect(),
            ExecError::Unconfigured(list) => list
                .iter()
                .map(|(step, message)| {
                    Diagnostic::error(
                        "E1005",
                        format!("step `{step}` cannot run here: {message}"),
                        span_of(step),
                        "needs a setting",
                    )
                    .with_help(
                        "set it in the environment of `inoc run` (README: \"Judges\"); nothing was computed",
                    )
                })
                .collect(),
            ExecError::RunFolder { path, source } => vec![Diagnostic::error(
                "E1006",
                format!("cannot write the results folder {}: {source}", path.display()),
                // File 0 is the root spec.
                crate::syntax::Span::default(),
                "while running this spec",
            )
            .with_help(
                "results folders go under `--runs-dir` (default `runs/` beside where inoc runs); check that it is writable and the disk has room; the cache is unaffected and finished steps stay cached",
            )],
            ExecError::Store(e) => vec![Diagnostic::error(
                "E1004",
                format!("the cache store failed: {e}"),
                // File 0 is the root spec.
                crate::syntax::Span::default(),
                "while running this spec",
            )
            .with_help(format!(
                "inoc keeps results in {} (set INOC_CACHE to move it); check that it is writable and the disk has room",
                Store::default_root().display()
            ))],
        }
    }
}

/// The identity of a spec in the store's index: its canonical path.
pub fn spec_id(spec: &str) -> String {
    fs::canonicalize(spec)
        .map(|p| p.to_string_lossy().to_string())
        .unwrap_or_else(|_| spec.to_string())
}

fn describe_step<'a>(
    plan: &Plan,
    step: &Step,
    store: &Store,
    registry: &Registry,
    compute: crate::runtime::Compute,
    input: &dyn Fn(StepId) -> InputState<'a>,
) -> Result<plan::Described, ExecError> {
    let extra = registry
        .get(&step.op)
        .map(|o| o.extra_files(&step.args))
        .transpose()
        .map_err(|message| ExecError::Describe {
            step: step.name.clone(),
            message,
        })?
        .unwrap_or_default();
    let compute = registry
        .get(&step.op)
        .filter(|o| o.computes_with_models())
        .and_then(|_| compute.key());
    let settings = registry
        .get(&step.op)
        .map(|o| o.settings(&step.args))
        .unwrap_or_default();
    plan::describe(
        plan,
        step,
        input,
        &|p| store.hash_path(p).map_err(|e| e.to_string()),
        &extra,
        compute.as_deref(),
        &settings,
    )
    .map_err(|message| ExecError::Describe {
        step: step.name.clone(),
        message,
    })
}

/// Input output hash -> display name, for a step's inputs.
fn input_names(
    plan: &Plan,
    step: &Step,
    output: &dyn Fn(StepId) -> Option<String>,
) -> BTreeMap<String, String> {
    step.deps
        .iter()
        .filter_map(|d| output(*d).map(|h| (h, plan.steps[*d].name.clone())))
        .collect()
}

/// Compares a step's description with the last one run under its name.
pub fn reason_against_index(
    store: &Store,
    spec: &str,
    step: &Step,
    desc: &Json,
    names: &BTreeMap<String, String>,
    key: &str,
) -> Reason {
    let Some(prev) = store.index_get(spec, &step.name) else {
        return Reason {
            kind: "new".into(),
            text: "new (never run under this name)".into(),
        };
    };
    if prev.key == key {
        return Reason {
            kind: "evicted".into(),
            text: "its output was removed from the cache".into(),
        };
    }
    let changes = canon::diff(&prev.desc, desc);
    if changes.is_empty() {
        return Reason {
            kind: "new".into(),
            text: "new key".into(),
        };
    }
    // Each thing once: a change seen under two paths of the description
    // (an input named by two arguments, a file and the path naming it)
    // explains itself the same way twice.
    let mut explained: Vec<(String, String)> = Vec::new();
    for c in &changes {
        let e = plan::explain_change(c, &prev.inputs, names);
        if !explained.iter().any(|x| x.1 == e.1) {
            explained.push(e);
        }
    }
    let kind = match explained[0].0.as_str() {
        "argument" => "args changed",
        "input" => "input changed",
        "file" => "file changed",
        "operation version" => "op version changed",
        "key schema" => "key schema changed",
        _ => "changed",
    };
    let mut text: Vec<String> = explained.iter().take(2).map(|e| e.1.clone()).collect();
    if explained.len() > 2 {
        text.push(format!("and {} more", explained.len() - 2));
    }
    Reason {
        kind: kind.into(),
        text: text.join("; "),
    }
}

/// Says for every step (in plan order) whether it is cached, without
/// computing anything; `compute` is where models would compute (it is in
/// the keys of the steps that use models).
pub fn inspect(
    plan: &Plan,
    store: &Store,
    registry: &Registry,
    compute: crate::runtime::Compute,
) -> Result<Vec<StepStatus>, ExecError> {
    let spec = spec_id(&plan.spec);
    let mut st: Vec<Option<StepStatus>> = vec![None; plan.steps.len()];
    for &id in &plan.order {
        let step = &plan.steps[id];
        let lookup_input = |d: StepId| -> InputState<'_> {
            let s = st[d].as_ref().expect("topological order");
            match &s.output {
                Some(h) => InputState::Output(h),
                None => InputState::Pending(&s.key),
            }
        };
        let described = describe_step(plan, step, store, registry, compute, &lookup_input)?;
        let key = canon::key_of(&described.desc);
        let pending: Vec<&str> = step
            .deps
            .iter()
            .filter(|d| st[**d].as_ref().is_some_and(|s| s.output.is_none()))
            .map(|d| plan.steps[*d].name.as_str())
            .collect();
        let names = input_names(plan, step, &|d| {
            st[d].as_ref().and_then(|s| s.output.clone())
        });
        let (run, output) = if step.version.is_none() {
            (
                Some(Reason {
                    kind: "no implementation".into(),
                    text: format!("no operation implements `{}` yet", step.op),
                }),
                None,
            )
        } else if !pending.is_empty() {
            let list = pending
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ");
            (
                Some(Reason {
                    kind: "input changed".into(),
                    text: format!("input {list} will run (this step may then be cut off if its output is unchanged)"),
                }),
                None,
            )
        } else {
            match store.lookup(&key) {
                Lookup::Present(m) => (None, Some(m.output_hash)),
                Lookup::Corrupt(msg) => (
                    Some(Reason {
                        kind: "corrupt object".into(),
                        text: format!("cached object is corrupt: {msg}"),
                    }),
                    None,
                ),
                Lookup::Missing => (
                    Some(reason_against_index(
                        store,
                        &spec,
                        step,
                        &described.desc,
                        &names,
                        &key,
                    )),
                    None,
                ),
            }
        };
        st[id] = Some(StepStatus {
            step: id,
            key,
            provisional: !pending.is_empty(),
            desc: described.desc,
            files: described.files,
            run,
            output,
        });
    }
    Ok(st
        .into_iter()
        .map(|s| s.expect("every step visited"))
        .collect())
}

/// How [`run`] runs.
#[derive(Clone)]
pub struct Options {
    /// Steps computed at once.
    pub jobs: usize,
    /// Root of the results folders (`<runs>/<spec stem>/<run id>/`).
    pub runs_dir: PathBuf,
    /// Who hears of steps starting, progressing, ending and warning (the
    /// CLI's terminal; [`reporter::Quiet`] for none).
    pub reporter: Arc<dyn Reporter>,
    /// Set to stop (Ctrl-C): no new step starts, running ones are asked to stop.
    pub cancel: Arc<AtomicBool>,
    /// Contents of the spec file(s), for the spec hash in provenance.
    pub spec_bytes: Vec<u8>,
    /// The `--set NAME=VALUE` settings of the run, recorded in provenance.
    pub settings: Vec<crate::sema::Setting>,
    /// Where and in which precision models compute (`--device`, `--dtype`).
    pub compute: crate::runtime::Compute,
}

/// One step's record in a run.
#[derive(Clone, Debug, Serialize)]
pub struct StepRecord {
    pub name: String,
    pub op: String,
    pub key: String,
    pub output_hash: String,
    /// `ran`, `cached`, `reused` (computed meanwhile by a concurrent run).
    pub status: String,
    pub seconds: f64,
    pub files: BTreeMap<String, String>,
    pub provenance: BTreeMap<String, String>,
}

/// The outcome of a successful run.
#[derive(Debug)]
pub struct RunSummary {
    pub folder: PathBuf,
    pub steps: Vec<StepRecord>,
    pub warnings: Vec<String>,
}

struct Done {
    key: String,
    output: String,
    status: &'static str,
    seconds: f64,
    files: Vec<(String, String)>,
    provenance: BTreeMap<String, String>,
}

/// A name as one path component: ASCII letters, digits and `-_=.` kept,
/// everything else `_`; never empty, `.` or `..` (a spec file named
/// `...inoc` has the stem `..`), never hidden.
fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_=.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.starts_with('.') || s.is_empty() {
        format!("_{s}")
    } else {
        s
    }
}

/// Longest folder name of a step in a run folder (file systems allow 255
/// bytes; `.log` and a hash suffix must fit).
const FOLDER_NAME_MAX: usize = 96;

/// Folder (and log file) names of the steps in a run folder, by step id:
/// [`sanitize`]d, and where that makes two equal (`e[p="a b"]` and
/// `e[p="a_b"]`), would hide a file of the run folder (`logs`,
/// `provenance.json`), or is too long, cut and suffixed with a hash of the
/// full name, so every step keeps its own folder.
fn folder_names(names: &[&str]) -> Vec<String> {
    let plain: Vec<String> = names.iter().map(|n| sanitize(n)).collect();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &plain {
        *seen.entry(p.as_str()).or_default() += 1;
    }
    names
        .iter()
        .zip(&plain)
        .map(|(name, p)| {
            let clash = seen[p.as_str()] > 1
                || matches!(
                    p.as_str(),
                    "logs" | "provenance.json" | "index.html" | "index.md" | "plots" | "samples"
                );
            if !clash && p.len() <= FOLDER_NAME_MAX {
                return p.clone();
            }
            let hash = blake3::hash(name.as_bytes()).to_hex();
            format!("{}-{}", &p[..p.len().min(FOLDER_NAME_MAX - 9)], &hash[..8])
        })
        .collect()
}

fn new_run_id() -> String {
    let now = chrono::Utc::now();
    let salt =
        blake3::hash(format!("{}:{:?}", std::process::id(), now.timestamp_nanos_opt()).as_bytes());
    format!("{}-{}", now.format("%Y%m%d-%H%M%S"), &salt.to_hex()[..6])
}

/// Refuses, before computing anything, a plan with a step this build
/// cannot compute (E1003) or that needs a setting from the environment
/// (E1005).
pub fn check_runnable(plan: &Plan, registry: &Registry) -> Result<(), ExecError> {
    let missing: Vec<Unimplemented> = plan
        .steps
        .iter()
        .filter_map(|s| {
            let detail = match registry.get(&s.op) {
                _ if s.version.is_none() => None,
                Some(op) => Some(op.unsupported(&s.args, &plan.program)?),
                None => None,
            };
            Some(Unimplemented {
                op: s.op.clone(),
                step: s.name.clone(),
                detail,
            })
        })
        .collect();
    if !missing.is_empty() {
        return Err(ExecError::Unimplemented(missing));
    }
    let unconfigured: Vec<(String, String)> = plan
        .steps
        .iter()
        .filter_map(|s| {
            let m = registry.get(&s.op)?.unconfigured(&s.args)?;
            Some((s.name.clone(), m))
        })
        .collect();
    if !unconfigured.is_empty() {
        return Err(ExecError::Unconfigured(unconfigured));
    }
    Ok(())
}

/// Runs every step of `plan` that is not cached and writes the results
/// folder. Returns its path and what each step did.
pub fn run(
    plan: &Plan,
    store: &Store,
    registry: &Registry,
    opts: &Options,
) -> Result<RunSummary, ExecError> {
    check_runnable(plan, registry)?;
    let spec = spec_id(&plan.spec);
    let started = chrono::Utc::now();
    let stem = Path::new(&plan.spec)
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "spec".into());
    let spec_runs = opts.runs_dir.join(sanitize(&stem));
    let run_id = new_run_id();
    let folder = spec_runs.join(&run_id);
    let folders = folder_names(
        &plan
            .steps
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
    );
    fs::create_dir_all(folder.join("logs")).map_err(run_folder(&folder))?;
    let warnings: Mutex<Vec<String>> = Mutex::new(Vec::new());

    let n = plan.steps.len();
    let mut done: Vec<Option<Done>> = (0..n).map(|_| None).collect();
    let mut waiting: Vec<usize> = plan.steps.iter().map(|s| s.deps.len()).collect();
    let position: BTreeMap<StepId, usize> = plan
        .order
        .iter()
        .enumerate()
        .map(|(i, s)| (*s, i))
        .collect();
    let mut ready: std::collections::BTreeSet<(usize, StepId)> = plan
        .steps
        .iter()
        .filter(|s| s.deps.is_empty())
        .map(|s| (position[&s.id], s.id))
        .collect();
    let mut failure: Option<ExecError> = None;
    let jobs = opts.jobs.max(1);
    let t0 = Instant::now();

    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<(StepId, Result<Done, ExecError>)>();
        let mut running = 0usize;
        let mut exclusive_running = false;
        loop {
            while running < jobs
                && !exclusive_running
                && failure.is_none()
                && !opts.cancel.load(Ordering::Relaxed)
            {
                let Some(&(pos, id)) = ready.first() else {
                    break;
                };
                let step = &plan.steps[id];
                // A step whose operation uses every core itself runs alone.
                let exclusive = jobs > 1
                    && registry
                        .get(&step.op)
                        .is_some_and(|o| o.exclusive(&step.args));
                if exclusive && running > 0 {
                    break;
                }
                ready.remove(&(pos, id));
                exclusive_running = exclusive;
                let inputs: BTreeMap<StepId, (String, String)> = step
                    .deps
                    .iter()
                    .map(|d| {
                        let x = done[*d].as_ref().expect("inputs done before consumers");
                        (*d, (x.key.clone(), x.output.clone()))
                    })
                    .collect();
                let tx = tx.clone();
                let warnings = &warnings;
                let spec = spec.as_str();
                let log_copy = folder.join("logs").join(format!("{}.log", folders[id]));
                running += 1;
                scope.spawn(move || {
                    let r = run_step(
                        plan, step, &inputs, store, registry, opts, warnings, spec, &log_copy,
                    );
                    let _ = tx.send((id, r));
                });
            }
            if running == 0 {
                break;
            }
            let Ok((id, r)) = rx.recv() else { break };
            running -= 1;
            exclusive_running = false;
            match r {
                Ok(d) => {
                    done[id] = Some(d);
                    for c in plan.consumers(id) {
                        waiting[c] -= 1;
                        if waiting[c] == 0 {
                            ready.insert((position[&c], c));
                        }
                    }
                }
                Err(e) => {
                    if failure.is_none() || matches!(failure, Some(ExecError::Interrupted)) {
                        failure = Some(e);
                    }
                }
            }
        }
    });
    if failure.is_none() && opts.cancel.load(Ordering::Relaxed) && done.iter().any(|d| d.is_none())
    {
        failure = Some(ExecError::Interrupted);
    }

    let names: BTreeMap<String, String> = plan
        .order
        .iter()
        .rev()
        .filter_map(|s| {
            done[*s]
                .as_ref()
                .map(|d| (d.output.clone(), plan.steps[*s].name.clone()))
        })
        .collect();
    let records: Vec<StepRecord> = plan
        .order
        .iter()
        .filter_map(|s| {
            let d = done[*s].as_ref()?;
            let st = &plan.steps[*s];
            Some(StepRecord {
                name: st.name.clone(),
                op: st.op.clone(),
                key: d.key.clone(),
                output_hash: d.output.clone(),
                status: d.status.to_string(),
                seconds: d.seconds,
                files: d.files.iter().cloned().collect(),
                provenance: d.provenance.clone(),
            })
        })
        .collect();
    // Report artefacts.
    if failure.is_none() {
        for &s in &plan.order {
            let st = &plan.steps[s];
            if st.kind != crate::sema::ir::DeclKind::Report {
                continue;
            }
            let (Some(d), Some(op)) = (done[s].as_ref(), registry.get(&st.op)) else {
                continue;
            };
            let dest = folder.join(&folders[s]);
            fs::create_dir_all(&dest).map_err(run_folder(&dest))?;
            let ctx = PresentCtx {
                name: &st.name,
                args: &st.args,
                output: &store.out_dir(&d.key),
                dest: &dest,
                names: &names,
                program: &plan.program,
            };
            if let Err(e) = op.present(&ctx) {
                failure = Some(ExecError::StepFailed {
                    step: st.name.clone(),
                    message: format!("writing its artefacts: {e}"),
                    log: dest.display().to_string(),
                    at: None,
                });
                break;
            }
        }
    }
    // The experiment's page, over every report of the run.
    if failure.is_none() {
        let machine = Machine::current();
        let ran = records.iter().filter(|r| r.status == "ran").count();
        let info = vec![
            ("spec".to_string(), spec.to_string()),
            ("inoc".to_string(), env!("CARGO_PKG_VERSION").to_string()),
            ("run".to_string(), run_id.clone()),
            ("started".to_string(), started.to_rfc3339()),
            (
                "duration".to_string(),
                format!("{:.1} s", t0.elapsed().as_secs_f64()),
            ),
            (
                "steps".to_string(),
                format!(
                    "{} ({ran} ran, {} cached)",
                    records.len(),
                    records.len() - ran
                ),
            ),
            (
                "machine".to_string(),
                format!(
                    "{} ({} {}, {} CPUs)",
                    machine.hostname, machine.os, machine.arch, machine.cpus
                ),
            ),
            ("store".to_string(), store.root().display().to_string()),
        ];
        let reports = plan
            .order
            .iter()
            .filter(|&&s| plan.steps[s].kind == crate::sema::ir::DeclKind::Report)
            .map(|&s| folders[s].clone())
            .collect();
        if let Err(e) = page::write(
            &folder,
            store,
            &records,
            reports,
            &spec,
            &opts.spec_bytes,
            info,
        ) {
            failure = Some(ExecError::StepFailed {
                step: "index.html".into(),
                message: format!("writing the experiment's page: {e}"),
                log: folder.display().to_string(),
                at: None,
            });
        }
    }
    let warnings = warnings.into_inner().unwrap_or_default();
    let provenance = serde_json::json!({
        "inoc_version": env!("CARGO_PKG_VERSION"),
        "spec": plan.spec,
        "spec_path": spec,
        "spec_hash": blake3::hash(&opts.spec_bytes).to_hex().to_string(),
        "settings": opts.settings.iter().map(|s| (s.name.clone(), s.value.clone())).collect::<BTreeMap<_, _>>(),
        "run_id": run_id,
        "started": started.to_rfc3339(),
        "finished": chrono::Utc::now().to_rfc3339(),
        "seconds": t0.elapsed().as_secs_f64(),
        "status": match &failure { None => "ok".to_string(), Some(e) => e.to_string() },
        "machine": Machine::current(),
        "store": store.root().display().to_string(),
        "steps": records,
        "warnings": warnings,
    });
    crate::cache::write_atomic(
        &folder.join("provenance.json"),
        &serde_json::to_vec_pretty(&provenance).map_err(std::io::Error::other)?,
    )
    .map_err(run_folder(&folder))?;
    if let Some(e) = failure {
        return Err(e);
    }
    point_latest(&spec_runs, &run_id).map_err(run_folder(&spec_runs))?;
    Ok(RunSummary {
        folder,
        steps: records,
        warnings,
    })
}

/// Computes one step of `plan` whose inputs are all in the store, under its
/// key's lock, as [`run`] would (the Slurm executor's job, `inoc exec-step`).
/// Nothing else runs and no run folder is written; the step's log is copied
/// to `log_copy`.
pub fn run_one(
    plan: &Plan,
    store: &Store,
    registry: &Registry,
    opts: &Options,
    id: StepId,
    log_copy: &Path,
) -> Result<StepRecord, ExecError> {
    check_runnable(plan, registry)?;
    let step = &plan.steps[id];
    let statuses = inspect(plan, store, registry, opts.compute)?;
    let mut inputs: BTreeMap<StepId, (String, String)> = BTreeMap::new();
    for d in &step.deps {
        let s = &statuses[*d];
        let Some(h) = &s.output else {
            return Err(ExecError::StepFailed {
                step: step.name.clone(),
                message: format!(
                    "its input `{}` is not in the cache store (its job did not finish)",
                    plan.steps[*d].name
                ),
                log: String::new(),
                at: None,
            });
        };
        inputs.insert(*d, (s.key.clone(), h.clone()));
    }
    if let Some(p) = log_copy.parent() {
        fs::create_dir_all(p)?;
    }
    let warnings = Mutex::new(Vec::new());
    let spec = spec_id(&plan.spec);
    let d = run_step(
        plan, step, &inputs, store, registry, opts, &warnings, &spec, log_copy,
    )?;
    Ok(StepRecord {
        name: step.name.clone(),
        op: step.op.clone(),
        key: d.key,
        output_hash: d.output,
        status: d.status.to_string(),
        seconds: d.seconds,
        files: d.files.into_iter().collect(),
        provenance: d.provenance,
    })
}

/// Points `<spec runs>/latest` at the run (a symlink on Unix, else a file
/// holding the run id), replacing it atomically.
fn point_latest(spec_runs: &Path, run_id: &str) -> std::io::Result<()> {
    let latest = spec_runs.join("latest");
    #[cfg(unix)]
    {
        let tmp = spec_runs.join(format!(".latest.{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(run_id, &tmp)?;
        fs::rename(&tmp, &latest)
    }
    #[cfg(not(unix))]
    {
        crate::cache::write_atomic(&latest, run_id.as_bytes())
    }
}

#[allow(clippy::too_many_arguments)]
fn run_step(
    plan: &Plan,
    step: &Step,
    inputs: &BTreeMap<StepId, (String, String)>,
    store: &Store,
    registry: &Registry,
    opts: &Options,
    warnings: &Mutex<Vec<String>>,
    spec: &str,
    log_copy: &Path,
) -> Result<Done, ExecError> {
    let described = describe_step(plan, step, store, registry, opts.compute, &|d| {
        InputState::Output(&inputs[&d].1)
    })?;
    let key = canon::key_of(&described.desc);
    let names = input_names(plan, step, &|d| inputs.get(&d).map(|x| x.1.clone()));
    let index = |op: &str| {
        let _ = store.index_put(&IndexEntry {
            spec: spec.to_string(),
            name: step.name.clone(),
            key: key.clone(),
            op: op.to_string(),
            desc: described.desc.clone(),
            inputs: names.clone(),
            time: chrono::Utc::now().to_rfc3339(),
        });
    };
    let cached = |m: &ObjectMeta, status: &'static str| Done {
        key: key.clone(),
        output: m.output_hash.clone(),
        status,
        seconds: 0.0,
        files: described.files.clone(),
        provenance: m.provenance.clone(),
    };
    let reporter = &*opts.reporter;
    let warn = |msg: String| {
        reporter.warning(None, &msg);
        if let Ok(mut w) = warnings.lock() {
            w.push(msg);
        }
    };
    match store.lookup(&key) {
        Lookup::Present(m) => {
            index(&step.op);
            reporter.cached(&step.name, &step.op, false);
            return Ok(cached(&m, "cached"));
        }
        Lookup::Corrupt(msg) => warn(format!(
            "cached output of `{}` ({}) is corrupt: {msg}; recomputing it",
            step.name,
            &key[..12]
        )),
        Lookup::Missing => {}
    }
    let Some(_lock) = store.lock(&key, &|| opts.cancel.load(Ordering::Relaxed), &mut || {
        reporter.message(&format!(
            "waiting  {}: another inoc run is computing it",
            step.name
        ))
    })?
    else {
        return Err(ExecError::Interrupted);
    };
    match store.lookup(&key) {
        Lookup::Present(m) => {
            index(&step.op);
            reporter.cached(&step.name, &step.op, true);
            return Ok(cached(&m, "reused"));
        }
        Lookup::Corrupt(_) => store.discard(&key)?,
        Lookup::Missing => {}
    }
    let op = registry.get(&step.op).ok_or_else(|| {
        ExecError::Unimplemented(vec![Unimplemented {
            op: step.op.clone(),
            step: step.name.clone(),
            detail: None,
        }])
    })?;
    // Integrity on read: every input is checked again before use (small
    // files rehashed, large ones by identity; see `cache::Store::lookup`).
    let mut input_map: BTreeMap<usize, Input> = BTreeMap::new();
    for (d, (k, h)) in inputs {
        if let Lookup::Corrupt(msg) = store.lookup(k) {
            let _ = store.discard(k);
            return Err(ExecError::StepFailed {
                step: step.name.clone(),
                message: format!(
                    "its input `{}` is corrupt in the cache ({msg}); it was removed, rerun to recompute it",
                    plan.steps[*d].name
                ),
                log: String::new(),
                at: None,
            });
        }
        let dep = &plan.steps[*d];
        let input = Input {
            node: dep.node,
            name: dep.name.clone(),
            op: dep.op.clone(),
            key: k.clone(),
            output_hash: h.clone(),
            dir: store.out_dir(k),
        };
        // Every node that resolves to this step (aliases, family cells) maps to it.
        for (nid, _) in plan.program.nodes.iter().enumerate() {
            if plan.step_of_node(nid) == Some(*d) {
                input_map.insert(nid, input.clone());
            }
        }
    }
    let staging = store.stage(&key)?;
    let scratch = store.scratch(&key)?;
    let log_file = fs::File::create(staging.log())?;
    let log = Mutex::new(log_file);
    reporter.started(&step.name, &step.op);
    let progress = |p: &Progress| reporter.progress(&step.name, p);
    let ctx = OpCtx {
        name: &step.name,
        key: &key,
        args: &step.args,
        out: &staging.out(),
        scratch: &scratch,
        program: &plan.program,
        inputs: &input_map,
        log: &log,
        progress: &progress,
        cancel: &opts.cancel,
        compute: opts.compute,
        provenance: Mutex::new(BTreeMap::new()),
        warnings: Mutex::new(Vec::new()),
        store,
    };
    let started = chrono::Utc::now();
    let t = Instant::now();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| op.run(&ctx)))
        .unwrap_or_else(|p| {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            Err(OpError::Failed(format!("internal error (panic): {msg}")))
        });
    let seconds = t.elapsed().as_secs_f64();
    let mut provenance = ctx.provenance.lock().map(|m| m.clone()).unwrap_or_default();
    let warnings = ctx.warnings.lock().map(|w| w.clone()).unwrap_or_default();
    drop(ctx);
    for w in &warnings {
        reporter.warning(Some(&step.name), w);
    }
    if !warnings.is_empty() {
        provenance.insert("warnings".into(), warnings.join("\n"));
    }
    drop(log);
    let _ = fs::copy(staging.log(), log_copy);
    match result {
        Ok(()) => {}
        Err(OpError::Cancelled) => {
            reporter.finished(&step.name, &step.op, Outcome::Interrupted);
            return Err(ExecError::Interrupted);
        }
        Err(e @ (OpError::Failed(_) | OpError::At { .. })) => {
            let (message, at) = match e {
                OpError::At { span, message } => (message, Some(span)),
                other => (other.to_string(), None),
            };
            reporter.finished(&step.name, &step.op, Outcome::Failed(&message));
            return Err(ExecError::StepFailed {
                step: step.name.clone(),
                message,
                log: log_copy.display().to_string(),
                at,
            });
        }
    }
    let meta = ObjectMeta {
        schema: META_SCHEMA,
        key: key.clone(),
        op: step.op.clone(),
        op_version: op.version(),
        name: step.name.clone(),
        desc: described.desc.clone(),
        inputs: inputs.values().map(|(_, h)| h.clone()).collect(),
        output_hash: String::new(),
        files: Vec::new(),
        started: started.to_rfc3339(),
        seconds,
        inoc_version: env!("CARGO_PKG_VERSION").into(),
        machine: Machine::current(),
        provenance: provenance.clone(),
        work: resources::work_of(plan, step.id),
    };
    let meta = store.commit(staging, meta).inspect_err(|e| {
        reporter.finished(&step.name, &step.op, Outcome::Failed(&e.to_string()));
    })?;
    store.remove_scratch(&key);
    index(&step.op);
    reporter.finished(&step.name, &step.op, Outcome::Ran { seconds });
    Ok(Done {
        key,
        output: meta.output_hash,
        status: "ran",
        seconds,
        files: described.files,
        provenance,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn folder_names_stay_distinct_inside_the_run_folder() {
        // Issue 13.3: two cells whose names differ only in characters that
        // sanitising replaces shared one folder.
        let long = format!("r[p=\"{}\"]", "x".repeat(300));
        let names = [
            "e[p=\"a b\"]",
            "e[p=\"a_b\"]",
            "t[s=0]",
            "logs",
            "provenance.json",
            long.as_str(),
        ];
        let f = folder_names(&names);
        let set: BTreeSet<&String> = f.iter().collect();
        assert_eq!(set.len(), names.len(), "{f:?}");
        assert_eq!(f[2], "t_s=0_");
        assert!(f[0].starts_with("e_p=_a_b__-") && f[1].starts_with("e_p=_a_b__-"));
        assert!(f[3] != "logs" && f[4] != "provenance.json");
        for n in &f {
            assert!(n.len() <= FOLDER_NAME_MAX, "{n}");
            assert!(!n.starts_with('.') && !n.contains('/'), "{n}");
        }
        // The same names give the same folders (not a counter).
        assert_eq!(folder_names(&names), f);
    }

    #[test]
    fn sanitized_names_are_one_component_below_their_parent() {
        // Issue 13.4: a spec named `...inoc` (stem `..`) wrote `runs/../<id>`.
        for stem in ["..", ".", "", "...", ".hidden", "a/../../b"] {
            let s = sanitize(stem);
            let p = Path::new("runs").join(&s);
            assert_eq!(p.parent(), Some(Path::new("runs")), "{stem:?} -> {s:?}");
            assert!(
                p.components()
                    .all(|c| matches!(c, std::path::Component::Normal(_))),
                "{stem:?} -> {s:?}"
            );
            assert!(!s.starts_with('.'), "{stem:?} -> {s:?}");
        }
    }
}
