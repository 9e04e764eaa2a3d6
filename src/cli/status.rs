//! `inoc status`: the state of every step of a spec's last Slurm submission
//! (done, pending, running, failed with its diagnostic and log tail,
//! cancelled); also the submitting side of `inoc run --executor slurm`.

use super::plan::{fail, fail_exec, load_plan, open_store_for, Loaded};
use super::Format;
use crate::cache::Store;
use crate::exec::slurm::{self, BundleDir, Queue, ResourceSetting, Slurm, SlurmOptions, StepState};
use crate::exec::{self, Options};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

/// Arguments of `inoc status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The spec submitted with `inoc run --executor slurm`.
    pub spec: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// How often `--wait` asks the queue (seconds; `$INOC_SLURM_POLL`).
fn poll_seconds() -> f64 {
    std::env::var("INOC_SLURM_POLL")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| *v > 0.0)
        .unwrap_or(3.0)
}

/// `inoc run --executor slurm`: writes the bundle, submits a job per step
/// that is not cached (nothing that is queued or running already), and
/// with `wait` follows the queue until the run folder is written.
pub(super) fn submit(
    loaded: &Loaded,
    store: &Store,
    opts: &Options,
    resources: &[ResourceSetting],
    wait: bool,
) -> u8 {
    let (plan, registry) = (&loaded.plan, &loaded.registry);
    for r in resources {
        if let Some(op) = &r.op {
            if registry.get(op).is_none() {
                eprintln!(
                    "error: `--resources {op}:...`: no operation is called `{op}` (`inoc builtins` lists them)"
                );
                return 2;
            }
        }
    }
    if let Err(e) = exec::check_runnable(plan, registry) {
        return fail_exec(&e, loaded);
    }
    let statuses = match exec::inspect(plan, store, registry, opts.compute) {
        Ok(s) => s,
        Err(e) => return fail_exec(&e, loaded),
    };
    if statuses.iter().all(|s| s.run.is_none()) {
        // Everything is stored: the run folder is written here, as locally.
        eprintln!("every step is cached: nothing to submit");
        return super::run::report(exec::run(plan, store, registry, opts), loaded);
    }
    let exe = match std::env::current_exe().and_then(std::fs::canonicalize) {
        Ok(p) => p,
        Err(e) => return fail(format!("cannot find the inoc binary: {e}"), None),
    };
    let slurm_opts = SlurmOptions {
        // The spec's `let slurm` first: the command line's win.
        resources: loaded
            .program
            .resources
            .iter()
            .chain(resources)
            .cloned()
            .collect(),
        extra: std::env::var("INOC_SBATCH_ARGS")
            .map(|v| v.split_whitespace().map(String::from).collect())
            .unwrap_or_default(),
    };
    let sub = match slurm::submit(
        &loaded.program,
        plan,
        &statuses,
        store,
        registry,
        opts,
        &slurm_opts,
        &Slurm,
        &exe,
    ) {
        Ok(s) => s,
        Err(e) => return fail_exec(&e, loaded),
    };
    for f in &sub.resubmitted_failures {
        eprintln!(
            "step `{}` had failed{}: {}; resubmitted",
            f.step,
            f.job
                .as_ref()
                .map(|j| format!(" in job {j}"))
                .unwrap_or_default(),
            f.message
        );
    }
    for (name, job) in &sub.submitted {
        eprintln!("submitted {name} (job {job})");
    }
    for (name, job) in &sub.kept {
        eprintln!("queued    {name} (job {job}, submitted before)");
    }
    eprintln!(
        "{} steps: {} cached, {} submitted, {} already queued or running; the run folder is written by job {}",
        plan.steps.len(),
        sub.cached,
        sub.submitted.len(),
        sub.kept.len(),
        sub.finish.as_deref().unwrap_or("-"),
    );
    if !wait {
        eprintln!("watch with `inoc status {}`", plan.spec);
        return 0;
    }
    follow(
        loaded,
        store,
        opts,
        &BundleDir::new(store, &sub.bundle),
        &Slurm,
    )
}

/// `--wait`: prints each step's state as it changes until the finishing
/// job wrote the run folder (exit 0, the folder on stdout) or a step failed
/// (its diagnostic, exit 1).
fn follow(
    loaded: &Loaded,
    store: &Store,
    opts: &Options,
    dir: &BundleDir,
    queue: &dyn Queue,
) -> u8 {
    let (plan, registry) = (&loaded.plan, &loaded.registry);
    let finish = dir.jobs().finish.map(|f| f.job);
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    loop {
        if opts.cancel.load(Ordering::Relaxed) {
            eprintln!(
                "stopped waiting; the jobs go on (`inoc status {}`)",
                plan.spec
            );
            return 130;
        }
        let statuses = match exec::inspect(plan, store, registry, opts.compute) {
            Ok(s) => s,
            Err(e) => return fail_exec(&e, loaded),
        };
        let (states, warning) = slurm::states(plan, &statuses, dir, queue);
        if let Some(w) = warning {
            eprintln!("warning: {w}");
        }
        for s in &states {
            if last.get(&s.name) != Some(&s.state) {
                eprintln!(
                    "{:9} {}{}",
                    s.state,
                    s.name,
                    s.job
                        .as_ref()
                        .map(|j| format!(" (job {j})"))
                        .unwrap_or_default()
                );
                last.insert(s.name.clone(), s.state.clone());
            }
        }
        let finished = || dir.finished().filter(|f| f.job == finish);
        if let Some(f) = finished() {
            let ran = states.len() - statuses_cached(&states);
            eprintln!("{} steps: {} done by Slurm jobs", states.len(), ran);
            println!("{}", f.folder.display());
            return 0;
        }
        // A queue that cannot be asked right now is not a finished one.
        if slurm::finish_active(dir, queue) == Some(false) {
            if let Some(f) = finished() {
                println!("{}", f.folder.display());
                return 0;
            }
            return report_failures(loaded, dir, &states, true);
        }
        std::thread::sleep(std::time::Duration::from_secs_f64(poll_seconds()));
    }
}

fn statuses_cached(states: &[StepState]) -> usize {
    states.iter().filter(|s| s.job.is_none()).count()
}

/// Prints the failed steps' diagnostics (as a local run would) and the
/// steps they cancelled; exit 1.
fn report_failures(loaded: &Loaded, dir: &BundleDir, states: &[StepState], others: bool) -> u8 {
    // Spans are not part of the stored IR: render at the spec's own
    // declarations when the spec still checks to the submitted program.
    let same = dir.bundle().is_ok_and(|b| {
        serde_json::to_value(&b.program).ok() == serde_json::to_value(&loaded.program).ok()
    });
    let mut any = false;
    for s in states {
        if s.state != "failed" {
            continue;
        }
        any = true;
        let file = plan_file(loaded, dir, &s.name);
        if let Some(f) = file.and_then(|f| dir.failure(&f)) {
            if same {
                fail_exec(&f.error(), loaded);
            } else {
                fail(f.error(), None);
            }
            if let Some(j) = &f.job {
                eprintln!("  (Slurm job {j})");
            }
        }
    }
    if !others {
        return 1;
    }
    for s in states.iter().filter(|s| s.state == "cancelled") {
        eprintln!(
            "cancelled {}{}: {}",
            s.name,
            s.job
                .as_ref()
                .map(|j| format!(" (job {j})"))
                .unwrap_or_default(),
            s.detail.as_deref().unwrap_or("")
        );
    }
    for s in states.iter().filter(|s| s.state == "lost") {
        any = true;
        eprintln!(
            "error: step `{}`: {}{}",
            s.name,
            s.detail.as_deref().unwrap_or(""),
            s.log
                .as_ref()
                .map(|l| format!(" (its output: {})", l.display()))
                .unwrap_or_default()
        );
    }
    if !any {
        let out = dir.jobs().finish.map(|f| f.out.display().to_string());
        eprintln!(
            "error: the finishing job ended without writing the run folder (its output: {})",
            out.unwrap_or_default()
        );
    }
    1
}

/// A step's file name in the bundle's folders, by step name.
fn plan_file(loaded: &Loaded, dir: &BundleDir, name: &str) -> Option<String> {
    let bundle = dir.bundle().ok()?;
    let plan = crate::plan::build(&bundle.program, &loaded.registry).ok()?;
    let id = plan.steps.iter().position(|s| s.name == name)?;
    Some(slurm::step_file(&plan, id))
}

pub fn run(args: Args) -> u8 {
    let loaded = match load_plan(&args.spec, &[]) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let store = match open_store_for(&loaded) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let spec_id = exec::spec_id(&loaded.plan.spec);
    let Some(dir) = BundleDir::latest(&store, &spec_id) else {
        eprintln!(
            "{}: never submitted with `inoc run --executor slurm` to the store {}; `inoc plan {}` shows what is cached",
            args.spec,
            store.root().display(),
            args.spec
        );
        return 1;
    };
    let bundle = match dir.bundle() {
        Ok(b) => b,
        Err(e) => return fail(format!("the submission's bundle: {e}"), None),
    };
    let plan = match crate::plan::build(&bundle.program, &loaded.registry) {
        Ok(p) => p,
        Err(e) => return fail(format!("the submission's plan: {e}"), None),
    };
    let compute = match bundle.compute() {
        Ok(c) => c,
        Err(e) => return fail(format!("the submission's device: {e}"), None),
    };
    let statuses = match exec::inspect(&plan, &store, &loaded.registry, compute) {
        Ok(s) => s,
        Err(e) => return fail_exec(&e, &loaded),
    };
    let (states, warning) = slurm::states(&plan, &statuses, &dir, &Slurm);
    let jobs = dir.jobs();
    let finished = dir
        .finished()
        .filter(|f| f.job == jobs.finish.as_ref().map(|j| j.job.clone()));
    let failed = states
        .iter()
        .any(|s| matches!(s.state.as_str(), "failed" | "lost"));
    if args.format == Format::Json {
        let v = serde_json::json!({
            "bundle": dir.id,
            "steps": states,
            "finish_job": jobs.finish.as_ref().map(|j| j.job.clone()),
            "folder": finished.as_ref().map(|f| f.folder.display().to_string()),
            "queue_warning": warning,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return u8::from(failed);
    }
    if let Some(w) = &warning {
        eprintln!("warning: {w}");
    }
    let width = states
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let opw = states.iter().map(|s| s.op.len()).max().unwrap_or(2).max(2);
    println!(
        "{:width$}  {:opw$}  {:13} {:8} queue",
        "step", "op", "state", "job"
    );
    for s in &states {
        println!(
            "{:width$}  {:opw$}  {:13} {:8} {}",
            s.name,
            s.op,
            s.state,
            s.job.as_deref().unwrap_or("-"),
            s.queue.as_deref().unwrap_or("")
        );
    }
    match (&finished, &jobs.finish) {
        (Some(f), _) => println!("results: {}", f.folder.display()),
        (None, Some(j)) if slurm::finish_active(&dir, &Slurm) != Some(false) => {
            println!("results: not yet (written by job {})", j.job)
        }
        (None, Some(j)) => println!(
            "results: none (job {}, which writes them, ended: a step did not finish)",
            j.job
        ),
        (None, None) => {}
    }
    for s in states
        .iter()
        .filter(|s| s.state != "done" && s.detail.is_some())
    {
        println!();
        println!(
            "{} {}: {}",
            s.state,
            s.name,
            s.detail.as_deref().unwrap_or("")
        );
        if let Some(l) = s.log.as_ref().filter(|l| l.exists()) {
            println!("  job output: {}", l.display());
        }
        for line in &s.log_tail {
            println!("  | {line}");
        }
    }
    if failed {
        println!();
        let _ = report_failures(&loaded, &dir, &states, false);
    }
    u8::from(failed)
}
