//! Runtime benchmarks on the shapes of `benches/torch_reference.py`
//! (benches/torch_reference.py): training tokens/s (full and
//! LoRA r8 on q,v) and sampling tokens/s (batch 1 and 16, 128 new tokens) for
//! the ~3.4M "tiny" and ~27M "small" Llama configs. Run by `inoc bench
//! runtime` and `cargo bench --bench runtime`; when a Python with torch is
//! named by `INOC_TORCH_PYTHON`, the PyTorch reference runs in the same
//! process session, row by row, on the same device and dtype, and ratios are
//! printed. On a GPU every timed region ends with a device synchronisation
//! (the reference does `torch.cuda.synchronize()` likewise).

use super::batch::Encoded;
use super::config::ModelConfig;
use super::loader::Precision;
use super::lora::LoraConfig;
use super::model::Model;
use super::sample::pick;
use super::schedule::ScheduleKind;
use super::train::{train, Length, Method, StepPhases, TrainConfig};
use super::DeviceChoice;
use candle_core::{DType, Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::path::Path;
use std::time::Instant;

/// Sizes candle's and our kernels' thread pools (rayon's global pool, which
/// gemm and candle use; `RAYON_NUM_THREADS` for candle's own count). Call
/// before any tensor work.
pub fn setup_threads(n: usize) {
    std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global();
}

/// One benchmark shape.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub name: &'static str,
    pub vocab: usize,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub ffn: usize,
    pub batch: usize,
    pub seq: usize,
}

pub const TINY: Shape = Shape {
    name: "tiny",
    vocab: 2000,
    hidden: 256,
    layers: 4,
    heads: 4,
    kv_heads: 2,
    ffn: 688,
    batch: 8,
    seq: 128,
};

pub const SMALL: Shape = Shape {
    name: "small",
    vocab: 8000,
    hidden: 512,
    layers: 8,
    heads: 8,
    kv_heads: 4,
    ffn: 1376,
    batch: 8,
    seq: 256,
};

/// The main job's model (`world.tiny_chat(size = "s")`: 2x128, vocab 512,
/// 0.46M parameters; pretraining batch 64, sequences padded to about 128).
pub const MAIN: Shape = Shape {
    name: "main",
    vocab: 512,
    hidden: 128,
    layers: 2,
    heads: 4,
    kv_heads: 4,
    ffn: 344,
    batch: 64,
    seq: 128,
};

impl Shape {
    /// Weights that take part in a matrix product per token: every
    /// projection and the (tied) lm_head.
    pub fn matmul_params(&self) -> usize {
        let d = self.hidden / self.heads;
        let attn = 2 * self.hidden * self.heads * d + 2 * self.hidden * self.kv_heads * d;
        self.layers * (attn + 3 * self.hidden * self.ffn) + self.vocab * self.hidden
    }

    /// The arithmetic one training step needs, in FLOPs: the forward pass
    /// (2 per weight and token, causal attention's half of Q K^T and P V),
    /// the input gradients (the same again) and, for full finetuning, the
    /// weight gradients (the same again); attention's backward is twice its
    /// forward either way. LoRA's adapter products (rank 8) are left out.
    pub fn train_flops(&self, lora: bool) -> f64 {
        let tokens = (self.batch * self.seq) as f64;
        let w = 2.0 * self.matmul_params() as f64 * tokens;
        let attn = 2.0 * (self.layers * self.seq * self.hidden) as f64 * tokens;
        if lora {
            2.0 * w + 3.0 * attn
        } else {
            3.0 * w + 3.0 * attn
        }
    }
}

/// Measured single-precision matrix-multiply rate (GFLOP/s) of the gemm the
/// training kernels use, on `threads` rayon threads, for an
/// `(m x k) (k x n)` product: the median of `reps` after one warm-up.
pub fn sgemm_gflops(m: usize, n: usize, k: usize, reps: usize) -> f64 {
    let a: Vec<f32> = (0..m * k).map(|i| ((i % 17) as f32 - 8.0) * 0.01).collect();
    let b: Vec<f32> = (0..k * n).map(|i| ((i % 13) as f32 - 6.0) * 0.01).collect();
    let mut c = vec![0f32; m * n];
    let threads = rayon::current_num_threads();
    let par = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    let mut times = Vec::new();
    for _ in 0..=reps {
        let t = Instant::now();
        // SAFETY: row-major a (m x k), b (k x n), c (m x n), all owned here.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                c.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.as_ptr(),
                1,
                k as isize,
                b.as_ptr(),
                1,
                n as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                par,
            );
        }
        times.push(t.elapsed().as_secs_f64());
    }
    times.remove(0);
    2.0 * (m * n * k) as f64 / median(&mut times) / 1e9
}

/// One measured row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub bench: String,
    pub config: String,
    pub mode: String,
    pub tokens_per_s: f64,
    /// Training rows: the median step's phases (seconds).
    pub phases: Option<StepPhases>,
}

/// Where a benchmark runs: a device and the model's compute dtype.
#[derive(Debug, Clone)]
pub struct Target {
    pub device: Device,
    pub dtype: DType,
}

impl Target {
    /// f32 on the CPU (the default of `inoc bench`).
    pub fn cpu() -> Self {
        Target {
            device: Device::Cpu,
            dtype: DType::F32,
        }
    }

    fn sync(&self) -> Result<(), String> {
        self.device.synchronize().map_err(|e| e.to_string())
    }
}

fn model_for(s: &Shape, target: &Target) -> Result<Model, String> {
    let cfg = ModelConfig::small(
        s.vocab, s.hidden, s.layers, s.heads, s.kv_heads, s.ffn, 1024,
    )
    .map_err(|e| e.to_string())?;
    Model::init_random(cfg, 0, &target.device, target.dtype).map_err(|e| e.to_string())
}

/// Training throughput: `warmup + steps` optimiser steps on random tokens,
/// loss on every position, AdamW(lr 1e-3, wd 0.01); the median step. With a
/// bf16 target the trained weights are f32 masters and the forward computes
/// in bf16 (as PyTorch's autocast; LoRA: a bf16 base, f32 adapter).
pub fn bench_train(
    s: &Shape,
    target: &Target,
    lora: bool,
    warmup: usize,
    steps: usize,
) -> Result<Row, String> {
    let mut model = model_for(s, target)?;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let n = s.batch * (warmup + steps);
    let examples: Vec<Encoded> = (0..n)
        .map(|_| Encoded {
            ids: (0..=s.seq)
                .map(|_| rng.random_range(0..s.vocab as u32))
                .collect(),
            mask: vec![true; s.seq + 1],
        })
        .collect();
    let method = if lora {
        Method::Lora(LoraConfig {
            rank: 8,
            alpha: 16.0,
            dropout: 0.0,
            use_rslora: false,
            target_modules: vec!["q_proj".into(), "v_proj".into()],
        })
    } else {
        Method::Full
    };
    let cfg = TrainConfig {
        method,
        length: Length::Steps((warmup + steps) as u64),
        batch_size: s.batch,
        lr: 1e-3,
        schedule: ScheduleKind::Constant,
        weight_decay: 0.01,
        max_grad_norm: 0.0,
        max_seq: s.seq + 1,
        ..TrainConfig::default()
    };
    let mut times = Vec::new();
    let mut phases = Vec::new();
    let mut last = Instant::now();
    train(
        &mut model,
        examples,
        &cfg,
        None,
        &mut |p| {
            // The step's kernels may still be queued on a GPU.
            let _ = target.sync();
            let now = Instant::now();
            if p.step as usize > warmup {
                times.push(now.duration_since(last).as_secs_f64());
                phases.push(p.phases);
            }
            last = now;
        },
        &|| false,
    )
    .map_err(|e| e.to_string())?;
    let med = median(&mut times);
    // Each phase's median over the measured steps.
    let phase = |f: fn(&StepPhases) -> f64| median(&mut phases.iter().map(f).collect::<Vec<_>>());
    let phases = StepPhases {
        data: phase(|p| p.data),
        forward: phase(|p| p.forward),
        backward: phase(|p| p.backward),
        clip: phase(|p| p.clip),
        optimizer: phase(|p| p.optimizer),
    };
    Ok(Row {
        bench: "train".into(),
        config: s.name.into(),
        mode: if lora { "lora" } else { "full" }.into(),
        tokens_per_s: (s.batch * s.seq) as f64 / med,
        phases: Some(phases),
    })
}

/// Sampling throughput: a 16-token random prompt, 128 new tokens with the
/// KV cache, greedy (`temperature == 0`) or sampled with the sampler of
/// `LoadedModel::sample` (no top-p, as the reference's `top_k=0`); the
/// median of `reps`.
pub fn bench_sample(
    s: &Shape,
    target: &Target,
    batch: usize,
    temperature: f64,
    reps: usize,
) -> Result<Row, String> {
    let model = model_for(s, target)?;
    let dev = &target.device;
    let new_tokens = 128;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut row_rngs: Vec<ChaCha8Rng> = (0..batch)
        .map(|r| ChaCha8Rng::seed_from_u64(1 + r as u64))
        .collect();
    let mut times = Vec::new();
    let err = |e: candle_core::Error| e.to_string();
    for _ in 0..reps {
        let prompt: Vec<u32> = (0..batch * 16)
            .map(|_| rng.random_range(0..s.vocab as u32))
            .collect();
        target.sync()?;
        let t0 = Instant::now();
        let mut st = model.new_kv_state(batch, 16 + new_tokens);
        let ids = Tensor::from_vec(prompt, (batch, 16), dev).map_err(err)?;
        let mut logits = model
            .forward_cached(&ids, None, &mut st, true)
            .map_err(|e| e.to_string())?;
        for _ in 0..new_tokens {
            let rows: Vec<Vec<f32>> = logits.to_vec2().map_err(err)?;
            // As `LoadedModel::sample` draws: each row from its own RNG,
            // rows in parallel.
            let draw = |(r, g): (&Vec<f32>, &mut ChaCha8Rng)| pick(r, temperature, 1.0, g);
            let next: Vec<u32> = if temperature > 0.0 && batch > 1 {
                rows.par_iter()
                    .zip(row_rngs.par_iter_mut())
                    .map(draw)
                    .collect()
            } else {
                rows.iter().zip(row_rngs.iter_mut()).map(draw).collect()
            };
            let ids = Tensor::from_vec(next, (batch, 1), dev).map_err(err)?;
            logits = model
                .forward_cached(&ids, None, &mut st, true)
                .map_err(|e| e.to_string())?;
        }
        target.sync()?;
        times.push(t0.elapsed().as_secs_f64());
    }
    let med = median(&mut times);
    Ok(Row {
        bench: "sample".into(),
        config: s.name.into(),
        mode: format!("batch {batch}, T={temperature}"),
        tokens_per_s: (batch * new_tokens) as f64 / med,
        phases: None,
    })
}

/// A training row's step by phase (ms) and its MFU: the step's needed
/// FLOPs (`Shape::train_flops`) over its time, against the sgemm rate
/// measured now at the model's largest projection (tokens x hidden x ffn).
fn profile_line(s: &Shape, r: &Row, p: &StepPhases) -> String {
    let lora = r.mode == "lora";
    let step = (s.batch * s.seq) as f64 / r.tokens_per_s;
    let flops = s.train_flops(lora);
    let achieved = flops / step / 1e9;
    let peak = sgemm_gflops(s.batch * s.seq, s.ffn, s.hidden, 5);
    let ms = |x: f64| x * 1e3;
    format!(
        "       step {:.1} ms: data {:.1}, forward {:.1}, backward {:.1}, clip {:.1}, adamw {:.1}, other {:.1}; \
         {:.2} GFLOP/step, {:.1} GFLOP/s, sgemm {}x{}x{} {:.1} GFLOP/s, MFU {:.0}%",
        ms(step),
        ms(p.data),
        ms(p.forward),
        ms(p.backward),
        ms(p.clip),
        ms(p.optimizer),
        ms(step - p.data - p.forward - p.backward - p.clip - p.optimizer),
        flops / 1e9,
        achieved,
        s.batch * s.seq,
        s.ffn,
        s.hidden,
        peak,
        100.0 * achieved / peak
    )
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs the PyTorch reference script for one config; returns its JSON rows
/// as `Row`s. `only` is `train` or `gen`.
pub fn torch_rows(
    python: &str,
    script: &Path,
    threads: usize,
    target: &Target,
    config: &str,
    only: &str,
) -> Result<Vec<Row>, String> {
    let device = match target.device.location() {
        candle_core::DeviceLocation::Cpu => "cpu".to_string(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { .. } => "mps".to_string(),
    };
    let dtype = match target.dtype {
        DType::BF16 => "bf16",
        DType::F16 => "f16",
        _ => "f32",
    };
    let out = std::process::Command::new(python)
        .arg(script)
        .args([
            "--threads",
            &threads.to_string(),
            "--device",
            &device,
            "--dtype",
            dtype,
            "--configs",
            config,
            "--only",
            only,
        ])
        .output()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    let mut rows = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Some(bench) = v.get("bench").and_then(|b| b.as_str()) else {
            continue;
        };
        let tps = v
            .get("tokens_per_s")
            .and_then(|t| t.as_f64())
            .unwrap_or(f64::NAN);
        let mode = if bench == "train" {
            v.get("mode")
                .and_then(|m| m.as_str())
                .unwrap_or("")
                .to_string()
        } else {
            format!(
                "batch {}, T={}",
                v.get("batch").and_then(|b| b.as_u64()).unwrap_or(0),
                v.get("temperature").and_then(|t| t.as_f64()).unwrap_or(0.0)
            )
        };
        rows.push(Row {
            bench: bench.into(),
            config: config.into(),
            mode,
            tokens_per_s: tps,
            phases: None,
        });
    }
    Ok(rows)
}

/// Options of a benchmark run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub threads: usize,
    pub configs: Vec<String>,
    /// `train`, `gen` or both when None.
    pub only: Option<String>,
    /// Python with torch + transformers for the reference (None: skip it).
    pub torch_python: Option<String>,
    /// The reference script.
    pub torch_script: std::path::PathBuf,
    /// Device of both sides (`Auto`: the process default, else CPU/GPU as
    /// available).
    pub device: DeviceChoice,
    /// Compute dtype of both sides (`None`: f32 on CPU, bf16 on CUDA).
    pub precision: Option<Precision>,
    /// Also print each training row's step by phase and its MFU against
    /// the measured sgemm rate at the model's shape.
    pub profile: bool,
}

/// Runs the benchmarks and prints one line per row (with the PyTorch number
/// and the ratio when the reference ran). Returns the rows as
/// `(candle, torch)` pairs.
pub fn run(
    opts: &BenchOptions,
    out: &mut dyn std::io::Write,
) -> Result<Vec<(Row, Option<Row>)>, String> {
    let w = |out: &mut dyn std::io::Write, s: String| {
        let _ = writeln!(out, "{s}");
        let _ = out.flush();
    };
    let (device, dtype) =
        super::loader::resolve(opts.device, opts.precision).map_err(|e| e.to_string())?;
    let target = Target { device, dtype };
    w(
        out,
        format!(
            "device {:?}, dtype {:?}, {} threads",
            target.device.location(),
            target.dtype,
            opts.threads
        ),
    );
    let mut pairs = Vec::new();
    for name in &opts.configs {
        let shape = match name.as_str() {
            "tiny" => TINY,
            "small" => SMALL,
            "main" => MAIN,
            o => return Err(format!("unknown bench config `{o}` (tiny, small, main)")),
        };
        let mut jobs: Vec<&str> = Vec::new();
        if opts.only.as_deref() != Some("gen") {
            jobs.push("train");
        }
        if opts.only.as_deref() != Some("train") && shape.name == "small" {
            jobs.push("gen");
        }
        for job in jobs {
            let torch = match &opts.torch_python {
                Some(py) => {
                    match torch_rows(py, &opts.torch_script, opts.threads, &target, name, job) {
                        Ok(r) => r,
                        Err(e) => {
                            w(out, format!("torch reference skipped: {e}"));
                            Vec::new()
                        }
                    }
                }
                None => Vec::new(),
            };
            let ours: Vec<Row> = if job == "train" {
                vec![
                    bench_train(&shape, &target, false, 2, 6)?,
                    bench_train(&shape, &target, true, 2, 6)?,
                ]
            } else {
                let mut v = Vec::new();
                for b in [1, 16] {
                    for t in [0.0, 0.8] {
                        v.push(bench_sample(&shape, &target, b, t, 3)?);
                    }
                }
                v
            };
            for r in ours {
                let t = torch
                    .iter()
                    .find(|t| t.bench == r.bench && t.mode == r.mode)
                    .cloned();
                let line = match &t {
                    Some(t) => format!(
                        "{:<6} {:<6} {:<18} candle {:>9.1} tok/s   torch {:>9.1} tok/s   ratio {:.2}",
                        r.bench,
                        r.config,
                        r.mode,
                        r.tokens_per_s,
                        t.tokens_per_s,
                        r.tokens_per_s / t.tokens_per_s
                    ),
                    None => format!(
                        "{:<6} {:<6} {:<18} candle {:>9.1} tok/s",
                        r.bench, r.config, r.mode, r.tokens_per_s
                    ),
                };
                w(out, line);
                if let (true, Some(p)) = (opts.profile, &r.phases) {
                    w(out, profile_line(&shape, &r, p));
                }
                pairs.push((r, t));
            }
        }
    }
    Ok(pairs)
}
