//! `inoc run`: computes every step that is not cached and prints the path of
//! the run's results folder on its last line.

use super::plan::{fail, fail_exec, load_plan, open_store_for, preflight};
use crate::exec::{self, ExecError, Options};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Arguments of `inoc run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The spec (`.inoc`, or a checked IR as `.json`).
    pub spec: String,
    /// Steps computed at once (default: the number of cores).
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Where results folders go: `<DIR>/<spec stem>/<run id>/`.
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
    /// Never draw progress bars.
    #[arg(long)]
    pub no_progress: bool,
    /// Run even when a training step's estimated memory (weights,
    /// optimizer state, activations, logits) exceeds this machine's (E1007).
    #[arg(long)]
    pub no_memory_check: bool,
    #[command(flatten)]
    pub device: super::DeviceArgs,
    #[command(flatten)]
    pub set: super::SetArgs,
    /// Where the steps run: `local` (threads on this machine) or `slurm`
    /// (one `sbatch` job per step that is not cached; README "Running on a
    /// Slurm cluster") [default: `$INOC_EXECUTOR`, else `local`].
    #[arg(long, value_enum)]
    pub executor: Option<Executor>,
    /// With `--executor slurm`: wait for the jobs, showing their progress
    /// from the queue, then print the results folder (or the failure).
    #[arg(long)]
    pub wait: bool,
    /// With `--executor slurm`: the resources of the jobs of one operation,
    /// or of every step without `OP:`; keys `partition`, `gpus`, `cpus`,
    /// `mem`, `time` (repeatable, later ones win over earlier ones, the
    /// spec's and the defaults): `--resources finetune:gpus=1,time=4:00:00`.
    #[arg(long, value_name = "[OP:]KEY=VALUE,...", value_parser = exec::slurm::ResourceSetting::parse)]
    pub resources: Vec<exec::slurm::ResourceSetting>,
}

/// Where `inoc run` computes the steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Executor {
    /// Threads on this machine.
    Local,
    /// One Slurm job per step (`sbatch`), the store on a shared filesystem.
    Slurm,
}

/// `--executor`, else `$INOC_EXECUTOR`, else local.
fn executor(arg: Option<Executor>) -> Result<Executor, u8> {
    if let Some(e) = arg {
        return Ok(e);
    }
    match std::env::var("INOC_EXECUTOR") {
        Ok(v) if !v.trim().is_empty() => <Executor as clap::ValueEnum>::from_str(v.trim(), true)
            .map_err(|_| {
                eprintln!("error: INOC_EXECUTOR=`{v}` is not an executor (local, slurm)");
                2
            }),
        _ => Ok(Executor::Local),
    }
}

pub fn run(args: Args) -> u8 {
    let executor = match executor(args.executor) {
        Ok(e) => e,
        Err(c) => return c,
    };
    if executor == Executor::Local && (args.wait || !args.resources.is_empty()) {
        eprintln!("error: `--wait` and `--resources` are options of `--executor slurm`");
        return 2;
    }
    let loaded = match load_plan(&args.spec, &args.set.set) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let store = match open_store_for(&loaded) {
        Ok(s) => s,
        Err(c) => return c,
    };
    // On Slurm the steps run on other machines: their memory is the
    // job's `mem`, not this one's.
    if let Err(c) = preflight(
        &loaded,
        &store,
        executor == Executor::Local && !args.no_memory_check,
    ) {
        return c;
    }
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let cancel = cancel.clone();
        let _ = ctrlc::set_handler(move || {
            if cancel.swap(true, Ordering::SeqCst) {
                // A second Ctrl-C: stop at once (finished steps are stored).
                std::process::exit(130);
            }
            eprintln!("\nstopping: waiting for running steps to stop (Ctrl-C again to quit now)");
        });
    }
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let compute = crate::runtime::Compute {
        device: args.device.device,
        precision: args.device.dtype,
    };
    let mut terminal =
        super::terminal::Terminal::new(!args.no_progress && std::io::stderr().is_terminal());
    if terminal.draws_bars() && executor == Executor::Local {
        // The run's time left: `inoc plan`'s estimates of the steps that will run.
        if let Ok(statuses) = exec::inspect(&loaded.plan, &store, &loaded.registry, compute) {
            let rates = exec::estimate::Rates::for_statuses(&store, &statuses);
            let est = exec::estimate::estimate(&loaded.plan, &statuses, &loaded.registry, &rates);
            terminal =
                terminal.with_eta(exec::estimate::Eta::of_plan(&loaded.plan, &statuses, &est));
        }
    }
    let terminal = Arc::new(terminal);
    let opts = Options {
        jobs,
        runs_dir: args.runs_dir,
        reporter: terminal.clone(),
        cancel,
        spec_bytes: loaded.bytes.clone(),
        settings: args.set.set.clone(),
        compute,
    };
    if executor == Executor::Slurm {
        return super::status::submit(&loaded, &store, &opts, &args.resources, args.wait);
    }
    let result = exec::run(&loaded.plan, &store, &loaded.registry, &opts);
    terminal.finish();
    report(result, &loaded)
}

/// Prints what a run did (the results folder on stdout's last line) and
/// returns the exit code.
pub(super) fn report(
    result: Result<exec::RunSummary, ExecError>,
    loaded: &super::plan::Loaded,
) -> u8 {
    match result {
        Ok(summary) => {
            let ran = summary.steps.iter().filter(|s| s.status == "ran").count();
            let reused = summary
                .steps
                .iter()
                .filter(|s| s.status == "reused")
                .count();
            let mut line = format!(
                "{} steps: {ran} ran, {} cached",
                summary.steps.len(),
                summary.steps.len() - ran - reused
            );
            if reused > 0 {
                line.push_str(&format!(", {reused} computed meanwhile by another run"));
            }
            eprintln!("{line}");
            println!("{}", summary.folder.display());
            0
        }
        Err(ExecError::Interrupted) => {
            fail(ExecError::Interrupted, None);
            130
        }
        Err(e) => fail_exec(&e, loaded),
    }
}
