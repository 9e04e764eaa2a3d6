//! `inoc exec-step` (internal): what a Slurm job of `inoc run --executor
//! slurm` runs. It reads the submission's bundle from the store, computes
//! one step (whose inputs its job's dependencies put in the store), or with
//! `--finish` writes the run folder, and records a failure where `inoc
//! status` and the submitter find it.

use super::plan::{fail, open_store};
use crate::exec::slurm::{step_file, BundleDir, Failure, Finished};
use crate::exec::{self, ExecError, Options};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Arguments of `inoc exec-step`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The submission's bundle id (`<store>/slurm/<bundle>/bundle.json`).
    pub bundle: String,
    /// The step to compute (its index in the plan).
    #[arg(long, conflicts_with = "finish", required_unless_present = "finish")]
    pub step: Option<usize>,
    /// Write the run folder (every step must be stored).
    #[arg(long)]
    pub finish: bool,
}

pub fn run(args: Args) -> u8 {
    let store = match open_store() {
        Ok(s) => s,
        Err(c) => return c,
    };
    if args.bundle.is_empty() || !args.bundle.chars().all(|c| c.is_ascii_hexdigit()) {
        return fail(format!("`{}` is not a bundle id", args.bundle), None);
    }
    let dir = BundleDir::new(&store, &args.bundle);
    let bundle = match dir.bundle() {
        Ok(b) => b,
        Err(e) => return fail(format!("cannot read the submission: {e}"), None),
    };
    let compute = match bundle.compute() {
        Ok(c) => c,
        Err(e) => return fail(format!("the submission's device: {e}"), None),
    };
    let registry = exec::ops::Registry::builtin();
    let plan = match crate::plan::build(&bundle.program, &registry) {
        Ok(p) => p,
        Err(e) => return fail(format!("the submission's plan: {e}"), None),
    };
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let cancel = cancel.clone();
        let _ = ctrlc::set_handler(move || cancel.store(true, Ordering::SeqCst));
    }
    let opts = Options {
        jobs: 1,
        runs_dir: bundle.runs_dir.clone(),
        reporter: Arc::new(super::terminal::Terminal::new(false)),
        cancel,
        spec_bytes: bundle.spec_bytes.clone().into_bytes(),
        settings: bundle.settings.clone(),
        compute,
    };
    let job = std::env::var("SLURM_JOB_ID").ok();
    let (file, name, result) = match args.step {
        Some(id) if id < plan.steps.len() => {
            let file = step_file(&plan, id);
            let r = exec::run_one(&plan, &store, &registry, &opts, id, &dir.step_log(&file)).map(
                |rec| {
                    eprintln!("{} {} ({}): key {}", rec.status, rec.name, rec.op, rec.key);
                },
            );
            (file, plan.steps[id].name.clone(), r)
        }
        Some(id) => {
            return fail(
                format!(
                    "the submission has {} steps, not step {id}",
                    plan.steps.len()
                ),
                None,
            )
        }
        None => {
            let r = exec::run(&plan, &store, &registry, &opts).and_then(|summary| {
                dir.set_finished(&Finished {
                    job: job.clone(),
                    folder: summary.folder.clone(),
                })
                .map_err(ExecError::Store)?;
                println!("{}", summary.folder.display());
                Ok(())
            });
            ("finish".to_string(), "finish".to_string(), r)
        }
    };
    match result {
        Ok(()) => {
            if let Err(e) = dir.set_failure(&file, None) {
                eprintln!("warning: {e}");
            }
            0
        }
        Err(e) => {
            let failure = match &e {
                ExecError::StepFailed {
                    step,
                    message,
                    log,
                    at,
                } => Failure {
                    step: step.clone(),
                    message: message.clone(),
                    log: log.clone(),
                    at: *at,
                    job,
                },
                other => Failure {
                    step: name,
                    message: other.to_string(),
                    log: String::new(),
                    at: None,
                    job,
                },
            };
            if let Err(w) = dir.set_failure(&file, Some(&failure)) {
                eprintln!("warning: cannot record the failure: {w}");
            }
            fail(&e, None)
        }
    }
}
