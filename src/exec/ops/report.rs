//! Report operations: `table(eval, ci)`, `bar(eval, y, ci)`, `curve(eval)`.
//!
//! A report's stored output is a copy of the rows of the evaluation it
//! reads (names are not part of a key); [`Op::present`] applies the
//! program's display names and writes the artefacts with
//! [`crate::report::write_report`] into the run's results folder:
//! results.csv, results_per_seed.csv, diffs.csv, plots, report.md and
//! report.html; the evaluation's answers go to `samples/<eval>.jsonl` of
//! the run folder, once per evaluation however many reports show it.
//!
//! What each shows, by the op of the evaluation:
//! - `evaluate`: metric means per model and condition with intervals that
//!   treat seeds as clusters (`table`), bar charts of the `y` metrics (`bar`), metric
//!   curves over checkpoints when it ran with `checkpoints = "all"` (`curve`);
//! - `logprob_gap`: the mean gap per example and per token (`table`);
//! - `probe_curve`: mean probe log-prob per step (`table`, `curve`).

use super::evaluate::{self, named_samples};
use super::mechanism::{self, Gap, ProbePoint};
use super::{Args, Op, OpCtx, OpError, PresentCtx};
use crate::eval::{aggregate_curve, summarize, CurveObs, Ranges, Sample};
use crate::report::{samples_jsonl, write_report, BarSpec, CurveSpec, Report, Table as ExtraTable};
use crate::sema::ir::{DeclKind, Value};
use std::collections::BTreeMap;

/// Which op produced the evaluation a report reads (stored in its output).
const SOURCE: &str = "source.json";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Style {
    Table,
    Bar,
    Curve,
}

/// Copies the rows of the evaluation into the report's output.
fn collect(ctx: &OpCtx<'_>) -> Result<(), OpError> {
    let input = ctx.input(ctx.arg("eval")?)?;
    let file = match input.op.as_str() {
        "evaluate" => evaluate::SAMPLES,
        "logprob_gap" => mechanism::GAPS,
        "probe_curve" => mechanism::CURVE,
        other => {
            return Err(OpError::failed(format!(
                "a report reads an evaluate, logprob_gap or probe_curve step, not `{other}`"
            )))
        }
    };
    std::fs::copy(input.dir.join(file), ctx.out.join(file))?;
    let json = serde_json::json!({ "op": input.op, "file": file });
    std::fs::write(ctx.out.join(SOURCE), json.to_string())?;
    Ok(())
}

fn level(args: &Args) -> f64 {
    match args.get("ci") {
        Some(Value::Float(x)) => *x,
        _ => crate::eval::stats::DEFAULT_LEVEL,
    }
}

fn fmt_summary(values: &[f64], level: f64) -> String {
    match summarize(values, level) {
        Ok(Some(s)) => match (s.ci_low, s.ci_high) {
            (Some(lo), Some(hi)) => format!("{:.4} [{lo:.4}, {hi:.4}]", s.mean),
            _ => format!("{:.4}", s.mean),
        },
        _ => "n/a".into(),
    }
}

/// Metric names of a `y` argument (metrics or their names).
fn metric_names(v: Option<&Value>) -> Result<Vec<String>, OpError> {
    let Some(Value::List(items)) = v else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for item in items {
        match item {
            Value::Str(s) => out.push(s.clone()),
            Value::Call(_) => {
                out.extend(
                    evaluate::metrics(&Value::List(vec![item.clone()]))?
                        .into_iter()
                        .map(|m| m.name),
                );
            }
            other => {
                return Err(OpError::failed(format!(
                    "`y`: expected a metric, got {other:?}"
                )))
            }
        }
    }
    Ok(out)
}

fn present(style: Style, ctx: &PresentCtx<'_>) -> Result<(), OpError> {
    let source: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ctx.output.join(SOURCE))?)
            .map_err(OpError::failed)?;
    let op = source["op"].as_str().unwrap_or("");
    let eval_ref = ctx.args.get("eval").cloned().unwrap_or(Value::None);
    let eval_name = ctx.label(&eval_ref).unwrap_or_else(|| "eval".into());
    let eval_args: Args = match &eval_ref {
        Value::Node(n) => match ctx.program.nodes.get(*n).map(|n| &n.value) {
            Some(Value::Call(c)) => c
                .args
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            _ => Args::new(),
        },
        _ => Args::new(),
    };
    let level = level(ctx.args);
    let mut report = Report {
        title: ctx.name.to_string(),
        summary: String::new(),
        level,
        samples: Vec::new(),
        ranges: Default::default(),
        write_samples: false,
        bars: Vec::new(),
        curves: Vec::new(),
        tables: Vec::new(),
    };
    match op {
        "evaluate" => {
            let rows = evaluate::read_rows(ctx.output)?;
            let samples = named_samples(ctx.program, &eval_args, &eval_name, &rows);
            write_samples(ctx, &eval_name, &samples)?;
            report.ranges = match eval_args.get("metrics") {
                Some(m) => evaluate::columns(m)?
                    .iter()
                    .map(|c| (c.name.clone(), c.range()))
                    .collect(),
                None => Default::default(),
            };
            report.summary = format!(
                "Evaluation `{eval_name}`: {} answers; means with {:.0}% intervals, seeds as clusters.",
                samples.len(),
                level * 100.0
            );
            match style {
                Style::Table => {}
                Style::Bar => report.bars.push(BarSpec {
                    name: ctx.name.to_string(),
                    eval: eval_name.clone(),
                    metrics: metric_names(ctx.args.get("y"))?,
                }),
                Style::Curve => {
                    report.curves = metric_curves(&rows, &samples, &report.ranges, level)?;
                    if report.curves.is_empty() {
                        return Err(OpError::failed(format!(
                            "`{eval_name}` has no checkpoints to draw: evaluate it with checkpoints = \"all\""
                        )));
                    }
                }
            }
            // Rows evaluated at intermediate checkpoints belong to curves.
            report.samples = samples
                .into_iter()
                .zip(&rows)
                .filter(|(_, r)| r.step.is_none())
                .map(|(s, _)| s)
                .collect();
        }
        "logprob_gap" => {
            if style != Style::Table {
                return Err(OpError::failed(format!(
                    "`{eval_name}` is a logprob_gap: show it with table(...)"
                )));
            }
            let gaps: Vec<Gap> = mechanism::read_jsonl(&ctx.output.join(mechanism::GAPS))?;
            let col = |f: fn(&Gap) -> f64| -> Vec<f64> { gaps.iter().map(f).collect() };
            let prompt = eval_args
                .get("prompt")
                .and_then(Value::as_str)
                .unwrap_or("");
            report.summary = format!(
                "Log-prob of the training responses with the system prompt \"{prompt}\" minus without it, under the model ({} examples; means with {:.0}% t-intervals across examples).",
                gaps.len(),
                level * 100.0
            );
            report.tables.push(ExtraTable {
                name: ctx.name.to_string(),
                title: format!("Log-prob gap ({eval_name})"),
                columns: [
                    "examples",
                    "gap per example",
                    "gap per token",
                    "log-prob with",
                    "log-prob without",
                ]
                .map(String::from)
                .to_vec(),
                rows: vec![vec![
                    gaps.len().to_string(),
                    fmt_summary(&col(|g| g.gap), level),
                    fmt_summary(&col(|g| g.gap_per_token), level),
                    fmt_summary(&col(|g| g.with_prompt), level),
                    fmt_summary(&col(|g| g.without), level),
                ]],
            });
        }
        "probe_curve" => {
            if style == Style::Bar {
                return Err(OpError::failed(format!(
                    "`{eval_name}` is a probe_curve: show it with curve(...) or table(...)"
                )));
            }
            let points: Vec<ProbePoint> =
                mechanism::read_jsonl(&ctx.output.join(mechanism::CURVE))?;
            let run = eval_args.get("run").cloned().unwrap_or(Value::None);
            let series = ctx.label(&run).unwrap_or_else(|| "run".into());
            let cells = evaluate::members(&run, ctx.program);
            let member_name = |m: usize| {
                cells
                    .iter()
                    .find(|c| c.1 == m)
                    .and_then(|c| ctx.program.nodes.get(c.2))
                    .map_or_else(|| format!("{series}[{m}]"), |n| n.name.clone())
            };
            let obs: Vec<CurveObs> = points
                .iter()
                .map(|p| CurveObs {
                    series: series.clone(),
                    member: member_name(p.member),
                    x: p.step as f64,
                    y: p.logprob,
                })
                .collect();
            let curve = aggregate_curve(&obs, None, level).map_err(OpError::failed)?;
            report.summary = format!(
                "Mean log-prob of {} probe responses across the checkpoints of `{series}`.",
                points.iter().map(|p| p.probe).max().map_or(0, |m| m + 1)
            );
            report.tables.push(ExtraTable {
                name: ctx.name.to_string(),
                title: format!("Probe log-prob ({eval_name})"),
                columns: ["step", "mean log-prob", "ci low", "ci high", "n"]
                    .map(String::from)
                    .to_vec(),
                rows: curve
                    .iter()
                    .map(|p| {
                        vec![
                            p.x.to_string(),
                            format!("{:.4}", p.mean),
                            p.ci_low.map_or_else(String::new, |v| format!("{v:.4}")),
                            p.ci_high.map_or_else(String::new, |v| format!("{v:.4}")),
                            p.n.to_string(),
                        ]
                    })
                    .collect(),
            });
            if style == Style::Curve {
                report.curves.push(CurveSpec {
                    name: ctx.name.to_string(),
                    title: format!("Probe log-prob over training ({eval_name})"),
                    x_label: "training step".into(),
                    y_label: "log-prob of the probe responses".into(),
                    points: curve,
                });
            }
        }
        other => {
            return Err(OpError::failed(format!(
                "cannot report an output of `{other}`"
            )))
        }
    }
    write_report(ctx.dest, &report)
        .map(|_| ())
        .map_err(|e| OpError::failed(format!("writing report `{}`: {e}", ctx.name)))
}

/// Writes an evaluation's answers to `samples/<eval>.jsonl` beside the
/// report's folder (every report of the evaluation writes the same bytes).
fn write_samples(ctx: &PresentCtx<'_>, eval_name: &str, samples: &[Sample]) -> Result<(), OpError> {
    let Some(run) = ctx.dest.parent() else {
        return Ok(());
    };
    let dir = run.join("samples");
    std::fs::create_dir_all(&dir)?;
    crate::cache::write_atomic(
        &dir.join(format!("{}.jsonl", samples_stem(eval_name))),
        &samples_jsonl(samples),
    )?;
    Ok(())
}

/// A file stem for an evaluation's samples: its name when that is a safe
/// file name, else the name made safe plus a hash of it (cells whose names
/// differ only in replaced characters keep distinct files).
pub fn samples_stem(eval_name: &str) -> String {
    let safe: String = eval_name
        .chars()
        .take(80)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_=.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe == eval_name && !safe.starts_with('.') {
        safe
    } else {
        format!(
            "{safe}-{}",
            &blake3::hash(eval_name.as_bytes()).to_hex()[..8]
        )
    }
}

/// One curve per metric: the mean score of each model (and condition) at
/// each training step.
fn metric_curves(
    rows: &[evaluate::Row],
    samples: &[Sample],
    ranges: &Ranges,
    level: f64,
) -> Result<Vec<CurveSpec>, OpError> {
    let mut by_metric: BTreeMap<String, Vec<CurveObs>> = BTreeMap::new();
    for (r, s) in rows.iter().zip(samples) {
        let Some(x) = r.x else { continue };
        // Strip the `@step` suffix: a curve's series is the model itself.
        let strip = |n: &str| match r.step {
            Some(st) => n.strip_suffix(&format!("@{st}")).unwrap_or(n).to_string(),
            None => n.to_string(),
        };
        let series = if s.condition.is_empty() {
            strip(&s.model)
        } else {
            format!("{} | {}", strip(&s.model), s.condition)
        };
        for (metric, score) in &s.scores {
            if let Some(y) = score {
                by_metric.entry(metric.clone()).or_default().push(CurveObs {
                    series: series.clone(),
                    member: strip(&s.member),
                    x: x as f64,
                    y: *y,
                });
            }
        }
    }
    // Per (series, member, x) the observations are averaged first, so the
    // intervals are across members (seeds).
    by_metric
        .into_iter()
        .map(|(metric, obs)| {
            Ok(CurveSpec {
                name: format!("curve_{metric}"),
                title: format!("{metric} over training"),
                x_label: "training step".into(),
                y_label: metric.clone(),
                points: aggregate_curve(&obs, ranges.get(&metric).copied(), level)
                    .map_err(OpError::failed)?,
            })
        })
        .collect()
}

macro_rules! report_op {
    ($t:ident, $name:literal, $style:expr) => {
        pub struct $t;
        impl Op for $t {
            fn name(&self) -> &'static str {
                $name
            }
            // 2: intervals that fit the data (Korn-Graubard with seeds as
            // clusters, MOVER differences); version 1 objects hold t-intervals.
            // 3: cells of a family that differ in more than their seed (the
            // prompts of `inoculated[p in ..., s in seeds]`) are rows of their
            // own; version 2 objects pooled them as if they were seeds.
            fn version(&self) -> u32 {
                3
            }
            fn kind(&self) -> DeclKind {
                DeclKind::Report
            }
            fn estimate(&self, _args: &Args) -> Option<f64> {
                Some(0.0)
            }
            fn run(&self, ctx: &OpCtx<'_>) -> Result<(), OpError> {
                collect(ctx)
            }
            fn present(&self, ctx: &PresentCtx<'_>) -> Result<(), OpError> {
                present($style, ctx)
            }
        }
    };
}

report_op!(Table, "table", Style::Table);
report_op!(Bar, "bar", Style::Bar);
report_op!(Curve, "curve", Style::Curve);

#[cfg(test)]
mod tests {
    use super::samples_stem;

    #[test]
    fn samples_files_stay_distinct() {
        assert_eq!(samples_stem("ood"), "ood");
        let a = samples_stem("e[p=\"a b\"]");
        let b = samples_stem("e[p=\"a_b\"]");
        assert!(a.starts_with("e_p=_a_b__-") && a != b, "{a} {b}");
        assert_ne!(samples_stem(".."), "..");
    }
}
