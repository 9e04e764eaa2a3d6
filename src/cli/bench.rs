//! `inoc bench`: the built-in benchmarks, printed with ratios against a
//! reference measured in the same run.

use std::path::PathBuf;

/// Arguments of `inoc bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Suite to run: `runtime` (training and sampling throughput vs PyTorch).
    #[arg(default_value = "runtime")]
    pub suite: String,
    /// Compute threads for candle and for the PyTorch reference.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Model configs, comma-separated: tiny (~3.4M), small (~27M).
    #[arg(long, default_value = "tiny,small")]
    pub configs: String,
    /// Only `train` or `gen` rows.
    #[arg(long, value_parser = ["train", "gen"])]
    pub only: Option<String>,
    /// Python with torch + transformers for the reference
    /// [default: $INOC_TORCH_PYTHON; without it the reference is skipped].
    #[arg(long)]
    pub torch_python: Option<String>,
    /// The PyTorch reference script.
    #[arg(long, default_value = "benches/torch_reference.py")]
    pub torch_script: PathBuf,
    /// Run the plain candle compositions instead of the fused kernels.
    #[arg(long)]
    pub unfused: bool,
    /// Also print each training step by phase and its MFU.
    #[arg(long)]
    pub profile: bool,
    /// Device and dtype of both inoc and the PyTorch reference.
    #[command(flatten)]
    pub device: super::DeviceArgs,
}

pub fn run(args: Args) -> u8 {
    if args.suite != "runtime" {
        eprintln!("inoc bench: unknown suite `{}`", args.suite);
        eprintln!("help: the suites are: runtime");
        return 2;
    }
    if args.threads == 0 {
        eprintln!("inoc bench: --threads must be at least 1");
        return 2;
    }
    crate::runtime::bench::setup_threads(args.threads);
    crate::runtime::kernels::set_fused(!args.unfused);
    let opts = crate::runtime::bench::BenchOptions {
        threads: args.threads,
        configs: args
            .configs
            .split(',')
            .map(|s| s.trim().to_string())
            .collect(),
        only: args.only,
        torch_python: args
            .torch_python
            .or_else(|| std::env::var("INOC_TORCH_PYTHON").ok()),
        torch_script: args.torch_script,
        device: args.device.device,
        precision: args.device.dtype,
        profile: args.profile,
    };
    let mut out = std::io::stdout();
    match crate::runtime::bench::run(&opts, &mut out) {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("inoc bench: {e}");
            1
        }
    }
}
