//! `cargo bench --bench runtime [-- --threads N --configs tiny,small --only train|gen
//! --device cpu|cuda[:N] --dtype f32|bf16]`:
//! the same benchmarks as `inoc bench runtime` (training and sampling tokens/s
//! with ratios against PyTorch; set INOC_TORCH_PYTHON to a Python with torch
//! for the reference, which then runs in the same session).

use inoc::runtime::bench::{run, setup_threads, BenchOptions};

fn main() {
    inoc::runtime::configure_threads();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let threads = flag("--threads").and_then(|t| t.parse().ok()).unwrap_or(2);
    setup_threads(threads);
    let opts = BenchOptions {
        threads,
        configs: flag("--configs")
            .unwrap_or_else(|| "tiny,small".into())
            .split(',')
            .map(str::to_string)
            .collect(),
        only: flag("--only"),
        torch_python: std::env::var("INOC_TORCH_PYTHON").ok(),
        torch_script: concat!(env!("CARGO_MANIFEST_DIR"), "/benches/torch_reference.py").into(),
        device: flag("--device")
            .map(|d| inoc::runtime::DeviceChoice::parse(&d))
            .transpose()
            .unwrap_or_else(|e| {
                eprintln!("bench runtime: {e}");
                std::process::exit(2)
            })
            .unwrap_or(inoc::runtime::DeviceChoice::Cpu),
        precision: flag("--dtype")
            .map(|d| inoc::runtime::loader::Precision::parse(&d))
            .transpose()
            .unwrap_or_else(|e| {
                eprintln!("bench runtime: {e}");
                std::process::exit(2)
            }),
        profile: args.iter().any(|a| a == "--profile"),
    };
    if let Err(e) = run(&opts, &mut std::io::stdout()) {
        eprintln!("bench runtime: {e}");
        std::process::exit(1);
    }
}
