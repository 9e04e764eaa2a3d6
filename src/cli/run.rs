//! `inoc run`: computes every step that is not cached and prints the path of
//! the run's results folder on its last line.

use super::plan::{fail, fail_exec, load_plan, open_store_for};
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
    #[command(flatten)]
    pub device: super::DeviceArgs,
    #[command(flatten)]
    pub set: super::SetArgs,
}

pub fn run(args: Args) -> u8 {
    let loaded = match load_plan(&args.spec, &args.set.set) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let store = match open_store_for(&loaded) {
        Ok(s) => s,
        Err(c) => return c,
    };
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
    let opts = Options {
        jobs,
        runs_dir: args.runs_dir,
        progress: !args.no_progress && std::io::stderr().is_terminal(),
        cancel,
        spec_bytes: loaded.bytes.clone(),
        settings: args.set.set.clone(),
        compute: crate::runtime::Compute {
            device: args.device.device,
            precision: args.device.dtype,
        },
    };
    match exec::run(&loaded.plan, &store, &loaded.registry, &opts) {
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
        Err(e) => fail_exec(&e, &loaded),
    }
}
