//! Mechanism measurements (no sampling, only log-probs):
//! - `logprob_gap(model, data, prompt)`: per training example, the log-prob
//!   of its assistant response with the (inoculation) system prompt minus
//!   without any system prompt, under the model; stored per example and per
//!   token in `gaps.jsonl`. A large positive gap means the prompt already
//!   explains the trait, so training with it needs to change the model less.
//! - `probe_curve(run, probes, system)`: the log-prob of fixed probe
//!   responses under a neutral prompt (`system`, none by default) at the
//!   base model (step 0) and every kept checkpoint of a finetuning run;
//!   stored in `curve.jsonl`.

use super::dataset::{self, Row};
use super::evaluate::{checkpoints, members};
use super::generate::prompt_messages;
use super::{Args, Op, OpCtx, OpError, Progress};
use crate::runtime::loader::{LoadOptions, LoadedModel};
use crate::runtime::score::ScoreRequest;
use crate::sema::ir::DeclKind;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// File of `logprob_gap`'s rows.
pub const GAPS: &str = "gaps.jsonl";
/// File of `probe_curve`'s rows.
pub const CURVE: &str = "curve.jsonl";

/// One training example's gap.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    pub id: usize,
    /// Log-prob of the response with the prompt as system prompt.
    pub with_prompt: f64,
    /// Log-prob of the response without a system prompt.
    pub without: f64,
    /// `with_prompt - without`.
    pub gap: f64,
    /// Response tokens.
    pub tokens: usize,
    /// `gap / tokens`.
    pub gap_per_token: f64,
}

/// One probe scored at one checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbePoint {
    /// Position of the cell when `run` is a family (0 otherwise).
    pub member: usize,
    /// Training step (0 = the base model).
    pub step: u64,
    pub probe: usize,
    pub logprob: f64,
    pub tokens: usize,
}

fn write_jsonl<T: Serialize>(path: &Path, rows: &[T]) -> Result<(), OpError> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for r in rows {
        serde_json::to_writer(&mut f, r).map_err(OpError::failed)?;
        f.write_all(b"\n")?;
    }
    f.flush()?;
    Ok(())
}

/// Reads a JSONL file of `T`.
pub fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, OpError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| OpError::failed(format!("{}: {e}", path.display())))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|e| OpError::failed(format!("{}: {e}", path.display())))
        })
        .collect()
}

/// Score requests for the assistant response of each row (rows without one
/// are an error: there is nothing to measure).
fn requests(rows: &[Row], system: Option<&str>) -> Result<Vec<ScoreRequest>, OpError> {
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            let response = r.assistant().ok_or_else(|| {
                OpError::failed(format!("row {i} has no assistant response to score"))
            })?;
            let mut messages = prompt_messages(r, system);
            if system.is_none() {
                messages.retain(|m| m.role != "system");
            }
            Ok(ScoreRequest {
                messages,
                response: response.to_string(),
            })
        })
        .collect()
}

/// Scores in chunks, reporting progress and polling Ctrl-C.
fn score(
    ctx: &OpCtx<'_>,
    lm: &LoadedModel,
    reqs: &[ScoreRequest],
    done: &mut u64,
    total: u64,
) -> Result<Vec<(f64, usize)>, OpError> {
    let mut out = Vec::with_capacity(reqs.len());
    for part in reqs.chunks(256) {
        ctx.check_cancel()?;
        let r = lm
            .score(part)
            .map_err(|e| OpError::failed(format!("scoring: {e}")))?;
        out.extend(r.into_iter().map(|s| (s.logprob, s.tokens.len())));
        *done += part.len() as u64;
        ctx.progress(Progress {
            done: *done,
            total,
            ..Progress::default()
        });
    }
    Ok(out)
}

pub struct LogprobGap;

impl Op for LogprobGap {
    fn computes_with_models(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "logprob_gap"
    }
    fn version(&self) -> u32 {
        1
    }
    fn kind(&self) -> DeclKind {
        DeclKind::Eval
    }
    fn exclusive(&self, _args: &Args) -> bool {
        true
    }
    fn run(&self, ctx: &OpCtx<'_>) -> Result<(), OpError> {
        let lm = super::model::load(ctx, ctx.input(ctx.arg("model")?)?)?;
        let rows = dataset::read(&ctx.input(ctx.arg("data")?)?.dir)?;
        let prompt = ctx.str("prompt")?;
        let with = requests(&rows, Some(prompt))?;
        let without = requests(&rows, None)?;
        let total = 2 * rows.len() as u64;
        let mut done = 0;
        let a = score(ctx, &lm, &with, &mut done, total)?;
        let b = score(ctx, &lm, &without, &mut done, total)?;
        let gaps: Vec<Gap> = a
            .iter()
            .zip(&b)
            .enumerate()
            .map(|(id, (&(w, n), &(wo, _)))| Gap {
                id,
                with_prompt: w,
                without: wo,
                gap: w - wo,
                tokens: n,
                gap_per_token: if n == 0 { 0.0 } else { (w - wo) / n as f64 },
            })
            .collect();
        if let Some(m) = mean(gaps.iter().map(|g| g.gap)) {
            ctx.log(format!(
                "{} examples, mean gap {m:.3} nats per example, {:.4} per token",
                gaps.len(),
                mean(gaps.iter().map(|g| g.gap_per_token)).unwrap_or(f64::NAN)
            ));
        }
        write_jsonl(&ctx.out.join(GAPS), &gaps)
    }
}

fn mean(xs: impl Iterator<Item = f64>) -> Option<f64> {
    let (s, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| s / n as f64)
}

pub struct ProbeCurve;

impl Op for ProbeCurve {
    fn computes_with_models(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "probe_curve"
    }
    fn version(&self) -> u32 {
        1
    }
    fn kind(&self) -> DeclKind {
        DeclKind::Eval
    }
    fn exclusive(&self, _args: &Args) -> bool {
        true
    }
    fn run(&self, ctx: &OpCtx<'_>) -> Result<(), OpError> {
        let probes = dataset::read(&ctx.input(ctx.arg("probes")?)?.dir)?;
        let system = ctx.arg("system")?.as_str();
        let reqs = requests(&probes, system)?;
        let cells = members(ctx.arg("run")?, ctx.program);
        let mut points = Vec::new();
        let mut done = 0;
        // Per cell: the base (step 0) and every kept checkpoint.
        let mut units = Vec::new();
        for &(_, member, node) in &cells {
            let input = ctx.input_node(node)?;
            let ck = checkpoints(&input.dir);
            if ck.is_empty() {
                return Err(OpError::failed(format!(
                    "`{}` has no training checkpoints; probe_curve needs a finetune(...) model",
                    input.name
                )));
            }
            units.push((member, input, 0u64, None));
            for (step, dir) in ck {
                units.push((member, input, step, Some(dir)));
            }
        }
        let total = (units.len() * reqs.len()) as u64;
        for (member, input, step, dir) in units {
            let (mut source, adapter) = super::model::open(ctx, input)?;
            let opts = match (&dir, adapter) {
                (None, Some(_)) => ctx.compute.load_options(),
                (Some(d), Some(_)) => LoadOptions {
                    adapter: Some(d.clone()),
                    ..ctx.compute.load_options()
                },
                (Some(d), None) => {
                    source.dir = d.clone();
                    source.hub = None;
                    ctx.compute.load_options()
                }
                // A full finetune names its base in base.json; without it
                // (or once the base left the store) the curve starts at the
                // first checkpoint.
                (None, None) => match super::model::base_of(ctx, input) {
                    Some(base) => {
                        source = base;
                        ctx.compute.load_options()
                    }
                    None => {
                        ctx.log(format!(
                            "`{}`: its base is not in the store; no step-0 point",
                            input.name
                        ));
                        continue;
                    }
                },
            };
            let lm = LoadedModel::load_source(source, &opts)
                .map_err(|e| OpError::failed(format!("loading `{}`: {e}", input.name)))?;
            points.extend(score_points(
                ctx, &lm, &reqs, member, step, &mut done, total,
            )?);
        }
        write_jsonl(&ctx.out.join(CURVE), &points)
    }
}

#[allow(clippy::too_many_arguments)]
fn score_points(
    ctx: &OpCtx<'_>,
    lm: &LoadedModel,
    reqs: &[ScoreRequest],
    member: usize,
    step: u64,
    done: &mut u64,
    total: u64,
) -> Result<Vec<ProbePoint>, OpError> {
    Ok(score(ctx, lm, reqs, done, total)?
        .into_iter()
        .enumerate()
        .map(|(probe, (logprob, tokens))| ProbePoint {
            member,
            step,
            probe,
            logprob,
            tokens,
        })
        .collect())
}
