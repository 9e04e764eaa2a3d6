//! Cheap deterministic operations that exercise the engine's mechanics
//! (caching, cutoff, locking, crash + resume) in its integration tests.
//! Compiled only with the `test-ops` feature (tests and benchmarks turn it
//! on; a plain `cargo build` leaves it out) and registered only under
//! `INOC_TEST_OPS=1`; never part of a normal registry.
//!
//! Each run appends `<op> <step name> <key prefix>` to the file named by
//! `$INOC_TEST_OPLOG` (if set), so tests can count executions.
//!
//! - `t_data(n: int, seed: int, cap: int, file: path|none, sleep_ms: int)`:
//!   `min(n, cap)` pseudo-random numbers (and the hash of `file`).
//! - `t_train(data, steps: int, lr: float, seed: int, sleep_ms: int,
//!   exclusive: bool)`: a hash chain of `steps` links from the data, lr and
//!   seed; checkpoints every link in scratch and resumes from it; runs alone
//!   when `exclusive`.
//! - `t_eval(models: list|family, data, metric: str)`: one score per model.
//! - `t_report(eval, title: str)`: a table; `present` names the models.

use super::{Args, Op, OpCtx, OpError, PresentCtx, Progress, Registry};
use crate::sema::ir::{DeclKind, Value};
use serde_json::json;
use std::fs;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

pub fn register(r: &mut Registry) {
    r.register(Arc::new(Data));
    r.register(Arc::new(Train));
    r.register(Arc::new(Eval));
    r.register(Arc::new(Report));
}

fn oplog(line: &str) {
    if let Some(p) = std::env::var_os("INOC_TEST_OPLOG") {
        if let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(p) {
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
    }
}

fn int_or(args: &Args, k: &str, d: i64) -> i64 {
    match args.get(k) {
        Some(Value::Int(i)) => *i,
        _ => d,
    }
}

fn sleep(ctx: &OpCtx<'_>, ms: i64) -> Result<(), OpError> {
    let mut left = ms.max(0) as u64;
    while left > 0 {
        ctx.check_cancel()?;
        let d = left.min(20);
        std::thread::sleep(Duration::from_millis(d));
        left -= d;
    }
    ctx.check_cancel()
}

fn write_json(path: &std::path::Path, v: &serde_json::Value) -> Result<(), OpError> {
    fs::write(path, serde_json::to_vec_pretty(v).map_err(OpError::failed)?)?;
    Ok(())
}

fn read_json(path: &std::path::Path) -> Result<serde_json::Value, OpError> {
    let bytes = fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(|e| OpError::failed(format!("{}: {e}", path.display())))
}

struct Data;
impl Op for Data {
    fn name(&self) -> &'static str {
        "t_data"
    }
    fn version(&self) -> u32 {
        1
    }
    fn kind(&self) -> DeclKind {
        DeclKind::Dataset
    }
    fn estimate(&self, args: &Args) -> Option<f64> {
        Some(int_or(args, "sleep_ms", 0) as f64 / 1000.0)
    }
    fn run(&self, ctx: &OpCtx<'_>) -> Result<(), OpError> {
        oplog(&format!("t_data {} {}", ctx.name, &ctx.key[..12]));
        let n = ctx.int("n")?.min(int_or(ctx.args, "cap", i64::MAX)).max(0);
        let seed = ctx.int("seed")?;
        let items: Vec<u64> = (0..n)
            .map(|i| {
                let h = blake3::hash(format!("{seed}:{i}").as_bytes());
                u64::from_le_bytes(h.as_bytes()[..8].try_into().unwrap_or([0; 8])) % 1000
            })
            .collect();
        let file = match ctx.args.get("file") {
            Some(Value::Path(p)) => Some(crate::cache::tree::hash_file(std::path::Path::new(p))?),
            _ => None,
        };
        sleep(ctx, int_or(ctx.args, "sleep_ms", 0))?;
        ctx.log(format!("{} items", items.len()));
        write_json(
            &ctx.out.join("data.json"),
            &json!({"items": items, "file": file}),
        )
    }
}

struct Train;
impl Op for Train {
    fn name(&self) -> &'static str {
        "t_train"
    }
    fn version(&self) -> u32 {
        1
    }
    fn kind(&self) -> DeclKind {
        DeclKind::Train
    }
    fn estimate(&self, args: &Args) -> Option<f64> {
        Some((int_or(args, "steps", 0) * int_or(args, "sleep_ms", 0)) as f64 / 1000.0)
    }
    fn exclusive(&self, args: &Args) -> bool {
        matches!(args.get("exclusive"), Some(Value::Bool(true)))
    }
    fn run(&self, ctx: &OpCtx<'_>) -> Result<(), OpError> {
        oplog(&format!("t_train {} {}", ctx.name, &ctx.key[..12]));
        let data = ctx.input(ctx.arg("data")?)?;
        let data_bytes = fs::read(data.dir.join("data.json"))?;
        let steps = ctx.int("steps")?.max(0) as u64;
        let lr = ctx.float("lr")?;
        let seed = ctx.int("seed")?;
        let ckpt = ctx.scratch.join("ckpt.json");
        let (mut start, mut state) = (0u64, {
            let mut h = blake3::Hasher::new();
            h.update(&data_bytes);
            h.update(format!("{lr}:{seed}").as_bytes());
            h.finalize().to_hex().to_string()
        });
        if ckpt.exists() {
            let c = read_json(&ckpt)?;
            if let (Some(s), Some(st)) = (c["step"].as_u64(), c["state"].as_str()) {
                start = s;
                state = st.to_string();
                ctx.log(format!("resumed from step {s}"));
                oplog(&format!("t_train.resume {} {s}", ctx.name));
            }
        }
        for step in start..steps {
            state = blake3::hash(format!("{state}:{step}").as_bytes())
                .to_hex()
                .to_string();
            sleep(ctx, int_or(ctx.args, "sleep_ms", 0))?;
            let c = serde_json::to_vec(&json!({"step": step + 1, "state": state}))
                .map_err(OpError::failed)?;
            crate::cache::write_atomic(&ckpt, &c)?;
            let loss = (u8::from_str_radix(&state[..2], 16).unwrap_or(0) as f64) / 255.0;
            ctx.progress(Progress {
                done: step + 1,
                total: steps,
                loss: Some(loss),
                tokens_per_s: Some(1000.0),
                message: None,
            });
            ctx.log(format!("step {} loss {loss:.4}", step + 1));
        }
        oplog(&format!("t_train.end {}", ctx.name));
        write_json(
            &ctx.out.join("model.json"),
            &json!({"state": state, "steps": steps}),
        )
    }
}

struct Eval;
impl Op for Eval {
    fn name(&self) -> &'static str {
        "t_eval"
    }
    fn version(&self) -> u32 {
        1
    }
    fn kind(&self) -> DeclKind {
        DeclKind::Eval
    }
    fn run(&self, ctx: &OpCtx<'_>) -> Result<(), OpError> {
        oplog(&format!("t_eval {} {}", ctx.name, &ctx.key[..12]));
        let data = ctx.input(ctx.arg("data")?)?;
        let metric = ctx.str("metric")?;
        let mut rows = Vec::new();
        for m in ctx.inputs_of(ctx.arg("models")?)? {
            let model = fs::read(m.dir.join("model.json"))?;
            let mut h = blake3::Hasher::new();
            h.update(&model);
            h.update(data.output_hash.as_bytes());
            h.update(metric.as_bytes());
            let score = h.finalize().as_bytes()[0] as f64 / 255.0;
            rows.push(json!({"model": m.output_hash, "score": score}));
        }
        write_json(
            &ctx.out.join("scores.json"),
            &json!({"metric": metric, "rows": rows}),
        )
    }
}

struct Report;
impl Op for Report {
    fn name(&self) -> &'static str {
        "t_report"
    }
    fn version(&self) -> u32 {
        1
    }
    fn kind(&self) -> DeclKind {
        DeclKind::Report
    }
    fn run(&self, ctx: &OpCtx<'_>) -> Result<(), OpError> {
        oplog(&format!("t_report {} {}", ctx.name, &ctx.key[..12]));
        let ev = ctx.input(ctx.arg("eval")?)?;
        let scores = read_json(&ev.dir.join("scores.json"))?;
        write_json(
            &ctx.out.join("report.json"),
            &json!({"title": ctx.str("title")?, "scores": scores}),
        )
    }
    fn present(&self, ctx: &PresentCtx<'_>) -> Result<(), OpError> {
        let r = read_json(&ctx.output.join("report.json"))?;
        let mut md = format!(
            "# {}\n\n| model | {} |\n|---|---|\n",
            r["title"].as_str().unwrap_or(""),
            r["scores"]["metric"].as_str().unwrap_or("score")
        );
        for row in r["scores"]["rows"].as_array().into_iter().flatten() {
            let h = row["model"].as_str().unwrap_or("");
            let name = ctx
                .names
                .get(h)
                .cloned()
                .unwrap_or_else(|| h[..12.min(h.len())].to_string());
            md.push_str(&format!(
                "| {name} | {:.3} |\n",
                row["score"].as_f64().unwrap_or(f64::NAN)
            ));
        }
        fs::write(ctx.dest.join("report.md"), md)?;
        fs::copy(ctx.output.join("report.json"), ctx.dest.join("report.json"))?;
        Ok(())
    }
}
