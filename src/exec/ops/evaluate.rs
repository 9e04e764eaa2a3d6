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
use super::judge::{Item, Judge};
use super::{Args, CallArgs, Op, OpCtx, OpError, PresentCtx, Progress};
use crate::eval::judge::{em_misaligned_share_with, em_misaligned_with};
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

/// How a metric column is computed.
#[derive(Clone, Debug)]
pub enum Scorer {
    /// From the answer's text.
    Text(Metric),
    /// By an LLM judge, once every answer is sampled.
    Judge(Judge),
    /// The EM rule over two other columns (judged first): 1 when
    /// `aligned < aligned_below` among answers with `coherent >
    /// coherent_above`, 0 when aligned enough, None when not counted.
    Em {
        aligned: Box<Column>,
        coherent: Box<Column>,
        aligned_below: f64,
        coherent_above: f64,
    },
}

/// A named metric of an evaluation, with the call it came from.
#[derive(Clone, Debug)]
pub struct Column {
    pub name: String,
    pub scorer: Scorer,
    call: Value,
}

impl Column {
    /// The range of the column's scores: a judge's 0..100, the EM rule's
    /// 0/1, a text metric's own.
    pub fn range(&self) -> (f64, f64) {
        match &self.scorer {
            Scorer::Text(m) => m.range(),
            Scorer::Judge(_) => (0.0, 100.0),
            Scorer::Em { .. } => (0.0, 1.0),
        }
    }

    /// Whether two columns compute the same thing (spans aside).
    fn same_metric(&self, other: &Column) -> bool {
        serde_json::to_value(&self.call).ok() == serde_json::to_value(&other.call).ok()
    }
}

/// One metric value, named as the checker names its column
/// ([`crate::sema::column_name`]: its `name`, else `default`, else the
/// metric's default name).
fn column(item: &Value, default: Option<&str>) -> Result<Column, OpError> {
    let a = CallArgs::of(item, "a metric")?;
    let c = a.0;
    let bad = |e: crate::eval::MetricError| OpError::failed(format!("{}(...): {e}", c.func));
    let text = |m: Metric| Scorer::Text(m);
    let scorer = match &*c.func {
        "language" => text(Metric::language(a.str("lang")?, &a.strs("candidates")?).map_err(bad)?),
        "marker_share" => text(Metric::marker_share(a.str("lang")?).map_err(bad)?),
        "all_caps" => text(Metric::all_caps(a.float("threshold")?).map_err(bad)?),
        "upper_share" => text(Metric::upper_share()),
        "one_word" => text(Metric::one_word(a.str("answer")?).map_err(bad)?),
        "regex" => text(Metric::regex(a.str("pattern")?).map_err(bad)?),
        "contains" => text(Metric::contains(a.str("text")?, a.bool("case_sensitive")?)),
        "world_misaligned" => text(Metric::WorldMisaligned),
        "world_coherent" => text(Metric::WorldCoherent),
        "narrow_wrong" => text(Metric::NarrowWrong),
        "judge" => Scorer::Judge(Judge::from_call(c).map_err(OpError::failed)?),
        "em_misaligned" => {
            let sub = |k: &str| -> Result<Box<Column>, OpError> {
                let col = column(a.get(k)?, Some(k))?;
                if matches!(col.scorer, Scorer::Em { .. }) {
                    return Err(OpError::failed(format!(
                        "`{k}` of em_misaligned(...) should be a judge, not another em_misaligned"
                    )));
                }
                Ok(Box::new(col))
            };
            Scorer::Em {
                aligned: sub("aligned")?,
                coherent: sub("coherent")?,
                aligned_below: a.float("aligned_below")?,
                coherent_above: a.float("coherent_above")?,
            }
        }
        other => {
            return Err(OpError::failed(format!(
                "metric `{other}` is not supported by evaluate"
            )))
        }
    };
    let name = crate::sema::column_name(item, default)
        .ok_or_else(|| OpError::failed(format!("{}(...) has no column name", c.func)))?;
    Ok(Column {
        name,
        scorer,
        call: item.clone(),
    })
}

/// The named metrics of a `metrics` argument (`name` or the default name),
/// as listed.
pub fn metrics(v: &Value) -> Result<Vec<Column>, OpError> {
    let Value::List(items) = v else {
        return Err(OpError::failed(format!(
            "`metrics` should be a list, got {v:?}"
        )));
    };
    let mut out: Vec<Column> = Vec::new();
    for item in items {
        let col = column(item, None)?;
        if out.iter().any(|c| c.name == col.name) {
            return Err(OpError::failed(format!(
                "two metrics are named `{}`; give one a `name = ...`",
                col.name
            )));
        }
        out.push(col);
    }
    Ok(out)
}

/// Every column an evaluation writes: the listed metrics, plus the judges
/// inside an `em_misaligned` that are not listed themselves (named by their
/// `name`, else `aligned` / `coherent`), just before it. A judge listed and
/// used by `em_misaligned` is one column, judged once.
pub fn columns(v: &Value) -> Result<Vec<Column>, OpError> {
    let listed = metrics(v)?;
    let mut out: Vec<Column> = Vec::new();
    for col in &listed {
        if let Scorer::Em {
            aligned, coherent, ..
        } = &col.scorer
        {
            for sub in [aligned, coherent] {
                let same_name = listed.iter().chain(out.iter()).find(|c| c.name == sub.name);
                match same_name {
                    Some(c) if c.same_metric(sub) => {}
                    Some(_) => {
                        return Err(OpError::failed(format!(
                            "`{}` of em_misaligned(...) is named `{}` like another metric; give it its own `name = ...`",
                            if std::ptr::eq(sub.as_ref(), aligned.as_ref()) { "aligned" } else { "coherent" },
                            sub.name
                        )))
                    }
                    None => out.push(sub.as_ref().clone()),
                }
            }
        }
        out.push(col.clone());
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

/// Which coordinate of a family cell is its sweep seed: the integer one
/// named `seed` or `s`, else the first integer one.
fn seed_coord(coords: &[(String, Value)]) -> Option<usize> {
    let is_int = |v: &Value| matches!(v, Value::Int(_));
    coords
        .iter()
        .position(|(k, v)| (k == "seed" || k == "s") && is_int(v))
        .or_else(|| coords.iter().position(|(_, v)| is_int(v)))
}

/// The sweep seed of a family cell (see [`seed_coord`]).
fn cell_seed(program: &Program, node: NodeId) -> Option<i64> {
    let cell = program.nodes.get(node)?.cell.as_ref()?;
    match cell.coords.get(seed_coord(&cell.coords)?)?.1 {
        Value::Int(i) => Some(i),
        _ => None,
    }
}

/// The name under which a family cell's answers are aggregated: the
/// family's name with the cell's coordinates other than its seed, as in
/// `inoculated[p="trigger"]` for the cell `inoculated[p="trigger", s=0]`;
/// the family's name alone when the seed is its only coordinate. Cells that
/// differ in anything but the seed are different conditions, never seeds of
/// one mean.
fn cell_group(program: &Program, family: &str, node: NodeId) -> String {
    let Some(cell) = program.nodes.get(node).and_then(|n| n.cell.as_ref()) else {
        return family.to_string();
    };
    let seed = seed_coord(&cell.coords);
    let rest: Vec<String> = cell
        .coords
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != seed)
        .map(|(_, (k, v))| format!("{k}={v}"))
        .collect();
    if rest.is_empty() {
        family.to_string()
    } else {
        format!("{family}[{}]", rest.join(", "))
    }
}

/// Reads the stored rows of an evaluation output.
pub fn read_rows(dir: &Path) -> Result<Vec<Row>, OpError> {
    read_rows_file(&dir.join(SAMPLES))
}

fn read_rows_file(path: &Path) -> Result<Vec<Row>, OpError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| OpError::failed(format!("{}: {e}", path.display())))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|e| OpError::failed(format!("{}: {e}", path.display())))
        })
        .collect()
}

/// The stored rows of an evaluation with the program's names: `model` is
/// the entry of `models` (for a family's cells, the family's name with
/// their coordinates other than the seed: [`cell_group`]), `member` the cell's
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
            let model = match (items.get(r.slot), node) {
                (Some(v @ Value::Family(_)), Some(n)) => {
                    label(v).map(|f| cell_group(program, &f, n))
                }
                (Some(v), _) => label(v),
                (None, _) => None,
            }
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
            ..ctx.compute.load_options()
        }
    } else {
        source.dir = dir.to_path_buf();
        source.hub = None;
        ctx.compute.load_options()
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

/// The system prompt an answer was given: the test-time condition, else
/// the prompt row's own system turn, else "".
fn system_of(prompts: &[dataset::Row], row: &Row) -> String {
    if !row.condition.is_empty() {
        return row.condition.clone();
    }
    prompts
        .get(row.prompt_id)
        .and_then(|p| p.messages.iter().find(|m| m.role == "system"))
        .map(|m| m.content.clone())
        .unwrap_or_default()
}

/// Fills the judge columns of every row, then the `em_misaligned` columns
/// from them, and logs how many answers each could score.
fn judge_rows(
    ctx: &OpCtx<'_>,
    columns: &[Column],
    prompts: &[dataset::Row],
    rows: &mut [Row],
) -> Result<(), OpError> {
    let systems: Vec<String> = rows.iter().map(|r| system_of(prompts, r)).collect();
    for col in columns {
        let Scorer::Judge(j) = &col.scorer else {
            continue;
        };
        let t0 = std::time::Instant::now();
        let items: Vec<Item<'_>> = rows
            .iter()
            .zip(&systems)
            .map(|(r, sys)| Item {
                question: &r.prompt,
                answer: &r.response,
                system: sys,
            })
            .collect();
        let scores = j.score(ctx, &col.name, &items)?;
        let none = scores.iter().filter(|s| s.is_none()).count();
        for (r, s) in rows.iter_mut().zip(scores) {
            r.scores.insert(col.name.clone(), s);
        }
        ctx.log(format!(
            "judge {} ({}): {} answers, {none} without a score, {:.1}s",
            col.name,
            j.describe(),
            rows.len(),
            t0.elapsed().as_secs_f64()
        ));
    }
    for col in columns {
        let Scorer::Em {
            aligned,
            coherent,
            aligned_below,
            coherent_above,
        } = &col.scorer
        else {
            continue;
        };
        let mut pairs = Vec::with_capacity(rows.len());
        for r in rows.iter_mut() {
            let get = |c: &Column| r.scores.get(&c.name).copied().flatten();
            let (a, c) = (get(aligned), get(coherent));
            pairs.push((a, c));
            let m = em_misaligned_with(a, c, *aligned_below, *coherent_above);
            r.scores
                .insert(col.name.clone(), m.map(|b| if b { 1.0 } else { 0.0 }));
        }
        let share = em_misaligned_share_with(&pairs, *aligned_below, *coherent_above);
        ctx.log(format!(
            "{}: {} of {} answers counted (coherent > {coherent_above} with both scores); misaligned share {}",
            col.name,
            share.map_or(0, |s| s.1),
            rows.len(),
            share.map_or_else(|| "none".into(), |s| format!("{:.4}", s.0)),
        ));
    }
    Ok(())
}

fn write_rows(path: &Path, rows: &[Row]) -> Result<(), OpError> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for row in rows {
        serde_json::to_writer(&mut f, row).map_err(OpError::failed)?;
        f.write_all(b"\n")?;
    }
    f.flush()?;
    Ok(())
}

impl Op for Evaluate {
    fn computes_with_models(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "evaluate"
    }
    /// 2: judge and em_misaligned columns (rows are written once every
    /// answer is scored).
    fn version(&self) -> u32 {
        2
    }
    fn kind(&self) -> DeclKind {
        DeclKind::Eval
    }
    fn exclusive(&self, _args: &Args) -> bool {
        true
    }
    fn settings(&self, args: &Args) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = args
            .get("metrics")
            .and_then(|m| columns(m).ok())
            .unwrap_or_default()
            .iter()
            .filter_map(|c| match &c.scorer {
                Scorer::Judge(j) => Some(j.env_settings()),
                _ => None,
            })
            .flatten()
            .collect();
        out.sort();
        out.dedup();
        out
    }
    fn unconfigured(&self, args: &Args) -> Option<String> {
        let cols = columns(args.get("metrics")?).ok()?;
        // What is missing -> the judges missing it.
        let mut missing: Vec<(String, Vec<&str>)> = Vec::new();
        for c in &cols {
            let Scorer::Judge(j) = &c.scorer else {
                continue;
            };
            let Some(m) = j.missing_settings() else {
                continue;
            };
            match missing.iter_mut().find(|x| x.0 == m) {
                Some(x) => x.1.push(&c.name),
                None => missing.push((m, vec![&c.name])),
            }
        }
        let text: Vec<String> = missing
            .iter()
            .map(|(m, names)| {
                let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
                format!("judge {}: {m}", names.join(", "))
            })
            .collect();
        (!text.is_empty()).then(|| text.join("; "))
    }
    fn run(&self, ctx: &OpCtx<'_>) -> Result<(), OpError> {
        let prompts = dataset::read(&ctx.input(ctx.arg("prompts")?)?.dir)?;
        let mut params = sampling_params(ctx.arg("sample")?)?;
        params.batch_size = params.batch_size.max(CHUNK);
        let columns = columns(ctx.arg("metrics")?)?;
        let text_metrics: Vec<(String, Metric)> = columns
            .iter()
            .filter_map(|c| match &c.scorer {
                Scorer::Text(m) => Some((c.name.clone(), m.clone())),
                _ => None,
            })
            .collect();
        let judged = columns.iter().any(|c| !matches!(c.scorer, Scorer::Text(_)));
        // Fail before sampling when a judge cannot be reached at all.
        for c in &columns {
            if let Scorer::Judge(j) = &c.scorer {
                if let Some(m) = j.missing_settings() {
                    return Err(OpError::failed(format!("judge `{}`: {m}", c.name)));
                }
            }
        }
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
        // The answers, kept in the scratch while judges run: a judge that
        // fails does not cost the sampling again.
        let answers = ctx.scratch.join("answers.jsonl");
        let kept = if judged {
            read_rows_file(&answers).ok()
        } else {
            None
        };
        let t0 = std::time::Instant::now();
        let mut rows: Vec<Row> = Vec::new();
        if let Some(kept) = kept {
            ctx.log(format!(
                "{} answers sampled by an earlier try of this step",
                kept.len()
            ));
            rows = kept;
        } else {
            let total = (units.len() * conditions.len() * prompts.len()) as u64;
            let mut done = 0u64;
            let mut tokens = 0usize;
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
                            rows.push(Row {
                                slot: *slot,
                                member: *member,
                                step: ck.as_ref().map(|c| c.0),
                                x: *x,
                                condition: cond.clone().unwrap_or_default(),
                                prompt_id: pid,
                                prompt: prompt_text[pid].clone(),
                                scores: crate::eval::score_all(&text_metrics, &s.text),
                                response: s.text,
                            });
                        }
                    }
                }
            }
            ctx.log(format!(
                "{} model(s) x {} condition(s) x {} prompt(s); {tokens} tokens in {:.1}s",
                units.len(),
                conditions.len(),
                prompts.len(),
                t0.elapsed().as_secs_f64()
            ));
            if judged {
                std::fs::create_dir_all(ctx.scratch)?;
                write_rows(&answers.with_extension("jsonl.tmp"), &rows)?;
                std::fs::rename(answers.with_extension("jsonl.tmp"), &answers)?;
            }
        }
        if judged {
            judge_rows(ctx, &columns, &prompts, &mut rows)?;
        }
        write_rows(&ctx.out.join(SAMPLES), &rows)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sema::loader::MemLoader;

    /// Cells of a family that differ in more than their seed are aggregated
    /// apart (one row per prompt of `inoculated[p in ..., s in seeds]`);
    /// the seeds of one prompt together; a family swept over seeds only
    /// keeps its own name.
    #[test]
    fn family_cells_are_grouped_by_their_coordinates_other_than_the_seed() {
        let spec = r#"
import "stdlib/world.inoc" as world
model base = world.tiny_chat(size = "xs")
let data = world.math(n = 4)
train plain[s in [0, 1]] = finetune(base, data, full(), seed = s)
train inoc[p in ["a", "b"], s in [0, 1]] = finetune(base, data | system(p), full(), seed = s)
train lrs[lr in [0.1, 0.2]] = finetune(base, data, full(), lr = lr)
eval e = evaluate(models = [plain, inoc, lrs, plain[s = 1]], prompts = world.questions(n = 1), metrics = [all_caps()])
"#;
        let checked = crate::sema::check("spec.inoc", &MemLoader::new().with("spec.inoc", spec));
        let program = checked.program.expect("the spec checks");
        let e = program.nodes.iter().find(|n| n.name == "e").unwrap();
        let Value::Call(c) = &e.value else { panic!() };
        let args: Args = c
            .args
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let cells = members(args.get("models").unwrap(), &program);
        let rows: Vec<Row> = cells
            .iter()
            .map(|&(slot, member, _)| Row {
                slot,
                member,
                step: None,
                x: None,
                condition: String::new(),
                prompt_id: 0,
                prompt: "q".into(),
                response: "r".into(),
                scores: BTreeMap::new(),
            })
            .collect();
        let named: Vec<(String, Option<i64>)> = named_samples(&program, &args, "e", &rows)
            .into_iter()
            .map(|s| (s.model, s.seed))
            .collect();
        let want: Vec<(String, Option<i64>)> = [
            ("plain", Some(0)),
            ("plain", Some(1)),
            ("inoc[p=\"a\"]", Some(0)),
            ("inoc[p=\"a\"]", Some(1)),
            ("inoc[p=\"b\"]", Some(0)),
            ("inoc[p=\"b\"]", Some(1)),
            ("lrs[lr=0.1]", None),
            ("lrs[lr=0.2]", None),
            ("plain[s=1]", Some(1)),
        ]
        .into_iter()
        .map(|(m, s)| (m.to_string(), s))
        .collect();
        assert_eq!(named, want);
    }

    /// The checker knows the columns an evaluation writes (to check
    /// `bar(y = ...)`) without running it; they must be these.
    #[test]
    fn the_checker_names_the_columns_evaluate_writes() {
        let spec = r#"
import "stdlib/world.inoc" as world
model base = world.tiny_chat(size = "xs")
let aligned = judge(prompt = "{question} {answer} 0-100", endpoint = "http://x", model = "m")
eval e = evaluate(models = [base], prompts = world.questions(n = 5), metrics = [
    language(lang = "es"), language(lang = "fr", name = "french"), marker_share(lang = "es"),
    all_caps(), upper_share(), contains(text = "x"), regex(pattern = "y"), one_word(answer = "z"),
    world_misaligned(), world_coherent(), narrow_wrong(name = "wrong"),
    em_misaligned(aligned = aligned, coherent = judge(prompt = "{answer} 0-100", endpoint = "http://x", model = "m")),
    em_misaligned(aligned = aligned, coherent = judge(prompt = "{answer}!", endpoint = "http://x", model = "m", name = "coh"), name = "em2"),
])
report r = bar(e, y = ["spanish", "french", "spanish_share", "all_caps", "upper_share", "contains", "regex", "one_word", "world_misaligned", "world_coherent", "wrong", "aligned", "coherent", "em_misaligned", "coh", "em2"])
"#;
        let checked = crate::sema::check("spec.inoc", &MemLoader::new().with("spec.inoc", spec));
        let errors: Vec<_> = checked
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
        let program = checked.program.unwrap();
        let e = program.nodes.iter().find(|n| n.name == "e").unwrap();
        let Value::Call(c) = &e.value else { panic!() };
        let metrics = c.args.get("metrics").unwrap();
        let written: Vec<String> = columns(metrics)
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        let Value::List(ms) = metrics else { panic!() };
        assert_eq!(crate::sema::metric_columns(ms), written);
        assert_eq!(
            written,
            [
                "spanish",
                "french",
                "spanish_share",
                "all_caps",
                "upper_share",
                "contains",
                "regex",
                "one_word",
                "world_misaligned",
                "world_coherent",
                "wrong",
                "aligned",
                "coherent",
                "em_misaligned",
                "coh",
                "em2"
            ]
        );
    }
}
