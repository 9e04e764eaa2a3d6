//! `evaluate(models, prompts, sample, metrics, system, checkpoints)`: samples
//! answers from every model on every prompt under every test-time system
//! prompt (none when `system = []`) and scores each answer with every metric.
//!
//! Families are expanded into their cells. The stored output
//! (`samples.jsonl`, one [`Row`] per answer) names models by position only
//! (`slot` in `models`, `member` in the family), since display names are not
//! part of a key; [`named_samples`] applies the names and sweep seeds of the
//! planned program, giving `eval::Sample`s for the report ops.

use super::dataset;
use super::generate::{prompt_messages, sampling_params};
use super::{Args, Op, OpCtx, OpError, PresentCtx, Progress};
use crate::eval::Metric;
use crate::runtime::chat_template::Message;
use crate::runtime::loader::{LoadOptions, LoadedModel};
use crate::runtime::sample::SamplingParams;
use crate::sema::ir::{DeclKind, NodeId, Program, Value};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

pub struct Evaluate;

/// File of an evaluation's answers.
pub const SAMPLES: &str = "samples.jsonl";

/// Prompts sampled together per call (progress and Ctrl-C granularity; the
/// runtime batches rows within a call).
const CHUNK: usize = 64;

/// One scored answer, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Position of the model in `models`.
    pub slot: usize,
    /// Position of the cell in its family (0 for a single model).
    pub member: usize,
    /// Training step of the checkpoint (`checkpoints = "all"`); None for the
    /// final model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    /// Training step of the model answering, for curves: set on every row
    /// when `checkpoints = "all"` (the final model at its last step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<u64>,
    /// The system prompt, "" for none.
    pub condition: String,
    pub prompt_id: usize,
    pub prompt: String,
    pub response: String,
    pub scores: BTreeMap<String, Option<f64>>,
}

/// The named metrics of a `metrics` argument (`name` or the default name).
pub fn metrics(v: &Value) -> Result<Vec<(String, Metric)>, OpError> {
    let Value::List(items) = v else {
        return Err(OpError::failed(format!(
            "`metrics` should be a list, got {v:?}"
        )));
    };
    let mut out = Vec::new();
    for item in items {
        let Value::Call(c) = item else {
            return Err(OpError::failed(format!("expected a metric, got {item:?}")));
        };
        let s = |k: &str| c.args.get(k).and_then(Value::as_str);
        let strs = |k: &str| -> Vec<&str> {
            match c.args.get(k) {
                Some(Value::List(xs)) => xs.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            }
        };
        let num = |k: &str, d: f64| match c.args.get(k) {
            Some(Value::Float(x)) => *x,
            Some(Value::Int(i)) => *i as f64,
            _ => d,
        };
        let bad = |e: crate::eval::MetricError| OpError::failed(format!("{}(...): {e}", c.func));
        let m = match c.func.as_str() {
            "language" => {
                let cands = strs("candidates");
                Metric::language(s("lang").unwrap_or(""), &cands).map_err(bad)?
            }
            "marker_share" => Metric::marker_share(s("lang").unwrap_or("")).map_err(bad)?,
            "all_caps" => Metric::all_caps(num("threshold", 0.5)).map_err(bad)?,
            "upper_share" => Metric::upper_share(),
            "one_word" => Metric::one_word(s("answer").unwrap_or("")).map_err(bad)?,
            "regex" => Metric::regex(s("pattern").unwrap_or("")).map_err(bad)?,
            "contains" => Metric::contains(
                s("text").unwrap_or(""),
                matches!(c.args.get("case_sensitive"), Some(Value::Bool(true))),
            ),
            other => {
                return Err(OpError::failed(format!(
                    "metric `{other}` is not supported by evaluate yet (the LLM-judge operation is not built)"
                )))
            }
        };
        let name = s("name").map_or_else(|| m.default_name(), str::to_string);
        if out.iter().any(|(n, _)| *n == name) {
            return Err(OpError::failed(format!(
                "two metrics are named `{name}`; give one a `name = ...`"
            )));
        }
        out.push((name, m));
    }
    Ok(out)
}

/// The cells of each entry of a `models` list: (slot, member, node).
pub fn members(models: &Value, program: &Program) -> Vec<(usize, usize, NodeId)> {
    let items: Vec<&Value> = match models {
        Value::List(xs) => xs.iter().collect(),
        other => vec![other],
    };
    let mut out = Vec::new();
    for (slot, v) in items.into_iter().enumerate() {
        match v {
            Value::Node(n) => out.push((slot, 0, *n)),
            Value::Family(f) => {
                if let Some(fam) = program.families.get(*f) {
                    for (m, n) in fam.cells.iter().enumerate() {
                        out.push((slot, m, *n));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The sweep seed of a family cell: its coordinate named `seed` or `s`,
/// else its first integer coordinate.
fn cell_seed(program: &Program, node: NodeId) -> Option<i64> {
    let cell = program.nodes.get(node)?.cell.as_ref()?;
    let int = |v: &Value| match v {
        Value::Int(i) => Some(*i),
        _ => None,
    };
    cell.coords
        .iter()
        .find(|(k, _)| k == "seed" || k == "s")
        .and_then(|(_, v)| int(v))
        .or_else(|| cell.coords.iter().find_map(|(_, v)| int(v)))
}

/// Reads the stored rows of an evaluation output.
pub fn read_rows(dir: &Path) -> Result<Vec<Row>, OpError> {
    let path = dir.join(SAMPLES);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| OpError::failed(format!("{}: {e}", path.display())))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|e| OpError::failed(format!("{}: {e}", path.display())))
        })
        .collect()
}

/// The stored rows of an evaluation with the program's names: `model` is
/// the entry of `models` (a family's name for its cells), `member` the cell's
/// own name (with `@step` for checkpoints) and `seed` its sweep seed.
pub fn named_samples(
    program: &Program,
    eval_args: &Args,
    eval_name: &str,
    rows: &[Row],
) -> Vec<crate::eval::Sample> {
    let models = eval_args.get("models").cloned().unwrap_or(Value::None);
    let items: Vec<Value> = match &models {
        Value::List(xs) => xs.clone(),
        other => vec![other.clone()],
    };
    let cells = members(&models, program);
    let label = |v: &Value| match v {
        Value::Node(n) => program.nodes.get(*n).map(|n| n.name.clone()),
        Value::Family(f) => program.families.get(*f).map(|f| f.name.clone()),
        _ => None,
    };
    rows.iter()
        .map(|r| {
            let node = cells
                .iter()
                .find(|(s, m, _)| *s == r.slot && *m == r.member)
                .map(|c| c.2);
            let model = items
                .get(r.slot)
                .and_then(label)
                .unwrap_or_else(|| format!("models[{}]", r.slot));
            let mut member = node
                .and_then(|n| program.nodes.get(n))
                .map_or_else(|| model.clone(), |n| n.name.clone());
            let mut model = model;
            if let Some(step) = r.step {
                member = format!("{member}@{step}");
                model = format!("{model}@{step}");
            }
            crate::eval::Sample {
                eval: eval_name.to_string(),
                model,
                member,
                seed: node.and_then(|n| cell_seed(program, n)),
                condition: r.condition.clone(),
                prompt_id: r.prompt_id,
                prompt: r.prompt.clone(),
                response: r.response.clone(),
                scores: r.scores.clone(),
            }
        })
        .collect()
}

/// Loads a kept checkpoint of a finetune output (a PEFT adapter over the
/// same base, or a complete model).
fn load_checkpoint(
    ctx: &OpCtx<'_>,
    input: &super::Input,
    dir: &Path,
) -> Result<LoadedModel, OpError> {
    let (mut source, adapter) = super::model::open(ctx, input)?;
    let opts = if adapter.is_some() {
        LoadOptions {
            adapter: Some(dir.to_path_buf()),
            ..Default::default()
        }
    } else {
        source.dir = dir.to_path_buf();
        source.hub = None;
        LoadOptions::default()
    };
    LoadedModel::load_source(source, &opts).map_err(|e| {
        OpError::failed(format!(
            "loading checkpoint {} of `{}`: {e}",
            dir.display(),
            input.name
        ))
    })
}

/// Samples every prompt under one condition, in chunks seeded by position.
fn sample_all(
    ctx: &OpCtx<'_>,
    lm: &LoadedModel,
    convs: &[Vec<Message>],
    params: &SamplingParams,
    mut after_chunk: impl FnMut(usize),
) -> Result<Vec<Vec<crate::runtime::sample::Sample>>, OpError> {
    let mut out = Vec::with_capacity(convs.len());
    for (ci, part) in convs.chunks(CHUNK).enumerate() {
        ctx.check_cancel()?;
        let p = SamplingParams {
            seed: params
                .seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(ci as u64),
            ..params.clone()
        };
        let s = lm
            .sample(part, &p)
            .map_err(|e| OpError::failed(format!("sampling: {e}")))?;
        after_chunk(part.len());
        out.extend(s);
    }
    Ok(out)
}

impl Op for Evaluate {
    fn computes_with_models(&self) -> bool {
        true
    }
    fn unsupported(&self, args: &Args) -> Option<String> {
        let v = args.get("metrics")?;
        match metrics(v) {
            Err(OpError::Failed(m)) if m.contains("not supported by evaluate yet") => Some(m),
            _ => None,
        }
    }
    fn name(&self) -> &'static str {
        "evaluate"
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
        let prompts = dataset::read(&ctx.input(ctx.arg("prompts")?)?.dir)?;
        let mut params = sampling_params(ctx.arg("sample")?)?;
        params.batch_size = params.batch_size.max(CHUNK);
        let metrics = metrics(ctx.arg("metrics")?)?;
        let conditions: Vec<Option<String>> = match ctx.arg("system")? {
            Value::List(xs) if !xs.is_empty() => xs
                .iter()
                .map(|x| x.as_str().filter(|s| !s.is_empty()).map(str::to_string))
                .collect(),
            Value::Str(s) if !s.is_empty() => vec![Some(s.clone())],
            _ => vec![None],
        };
        let all_ckpts = ctx.str("checkpoints")? == "all";
        let cells = members(ctx.arg("models")?, ctx.program);
        if cells.is_empty() {
            return Err(OpError::failed("`models` names no model"));
        }
        // (cell, checkpoint step and dir) to evaluate.
        type Unit = (
            usize,
            usize,
            NodeId,
            Option<(u64, std::path::PathBuf)>,
            Option<u64>,
        );
        let mut units: Vec<Unit> = Vec::new();
        for &(slot, member, node) in &cells {
            let input = ctx.input_node(node)?;
            let ck = checkpoints(&input.dir);
            let last = ck.last().map(|c| c.0);
            if all_ckpts && !ck.is_empty() {
                for (step, dir) in ck {
                    if Some(step) != last {
                        units.push((slot, member, node, Some((step, dir)), Some(step)));
                    }
                }
            }
            let x = if all_ckpts { last.or(Some(0)) } else { None };
            units.push((slot, member, node, None, x));
        }
        let prompt_text: Vec<String> = prompts
            .iter()
            .map(|r| {
                r.messages
                    .iter()
                    .rev()
                    .find(|m| m.role == "user")
                    .map(|m| m.content.clone())
                    .unwrap_or_default()
            })
            .collect();
        let total = (units.len() * conditions.len() * prompts.len()) as u64;
        let mut done = 0u64;
        let mut tokens = 0usize;
        let t0 = std::time::Instant::now();
        let mut f = std::io::BufWriter::new(std::fs::File::create(ctx.out.join(SAMPLES))?);
        for (slot, member, node, ck, x) in &units {
            ctx.check_cancel()?;
            let input = ctx.input_node(*node)?;
            let lm = match ck {
                Some((_, dir)) => load_checkpoint(ctx, input, dir)?,
                None => super::model::load(ctx, input)?,
            };
            for cond in &conditions {
                let convs: Vec<Vec<Message>> = prompts
                    .iter()
                    .map(|r| prompt_messages(r, cond.as_deref()))
                    .collect();
                let samples = sample_all(ctx, &lm, &convs, &params, |n| {
                    done += n as u64;
                    ctx.progress(Progress {
                        done,
                        total,
                        message: Some(input.name.clone()),
                        ..Progress::default()
                    });
                })?;
                for (pid, outs) in samples.into_iter().enumerate() {
                    for s in outs {
                        tokens += s.token_ids.len();
                        let row = Row {
                            slot: *slot,
                            member: *member,
                            step: ck.as_ref().map(|c| c.0),
                            x: *x,
                            condition: cond.clone().unwrap_or_default(),
                            prompt_id: pid,
                            prompt: prompt_text[pid].clone(),
                            scores: crate::eval::score_all(&metrics, &s.text),
                            response: s.text,
                        };
                        serde_json::to_writer(&mut f, &row).map_err(OpError::failed)?;
                        f.write_all(b"\n")?;
                    }
                }
            }
        }
        f.flush()?;
        ctx.log(format!(
            "{} model(s) x {} condition(s) x {} prompt(s); {tokens} tokens in {:.1}s",
            units.len(),
            conditions.len(),
            prompts.len(),
            t0.elapsed().as_secs_f64()
        ));
        Ok(())
    }
    fn present(&self, ctx: &PresentCtx<'_>) -> Result<(), OpError> {
        let rows = read_rows(ctx.output)?;
        let samples = named_samples(ctx.program, ctx.args, ctx.name, &rows);
        let mut f = std::io::BufWriter::new(std::fs::File::create(ctx.dest.join(SAMPLES))?);
        for s in &samples {
            serde_json::to_writer(&mut f, s).map_err(OpError::failed)?;
            f.write_all(b"\n")?;
        }
        f.flush()?;
        Ok(())
    }
}

/// The kept checkpoints of a finetune output (`checkpoints/<step>/export`,
/// the loadable model of each), by step; empty for other models.
pub fn checkpoints(out: &Path) -> Vec<(u64, std::path::PathBuf)> {
    let mut v: Vec<(u64, std::path::PathBuf)> = std::fs::read_dir(out.join("checkpoints"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let digits = name.strip_prefix("checkpoint-").unwrap_or(&name);
            let step = digits.parse().ok()?;
            let export = e.path().join("export");
            Some((step, if export.is_dir() { export } else { e.path() }))
        })
        .collect();
    v.sort();
    v
}
