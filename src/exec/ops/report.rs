//! Report operations: `table(eval, ci)`, `bar(eval, y, ci)`, `curve(eval)`.
//! `eval` is one evaluation or a list of evaluations of one kind shown
//! together (a bar group, a line or a table row each; a family in the list
//! is one line, its cells the clusters).
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
use crate::eval::{aggregate_curve, first_seen, summarize, CurveObs, Ranges, Sample};
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

/// The file of an evaluation's output a report reads, by its op.
fn source_file(op: &str) -> Result<&'static str, OpError> {
    match op {
        "evaluate" => Ok(evaluate::SAMPLES),
        "logprob_gap" => Ok(mechanism::GAPS),
        "probe_curve" => Ok(mechanism::CURVE),
        other => Err(OpError::failed(format!(
            "a report reads an evaluate, logprob_gap or probe_curve step, not `{other}`"
        ))),
    }
}

/// Copies the rows of the evaluation into the report's output; for a list
/// of evaluations (`curve([a, b])`), each one's rows into a folder of its
/// own, `0/`, `1/`, ... in the order of the list (families cell by cell).
fn collect(ctx: &OpCtx<'_>) -> Result<(), OpError> {
    let arg = ctx.arg("eval")?;
    if let Value::Node(_) = arg {
        let input = ctx.input(arg)?;
        let file = source_file(&input.op)?;
        std::fs::copy(input.dir.join(file), ctx.out.join(file))?;
        let json = serde_json::json!({ "op": input.op, "file": file });
        std::fs::write(ctx.out.join(SOURCE), json.to_string())?;
        return Ok(());
    }
    let mut items = Vec::new();
    for (i, input) in ctx.inputs_of(arg)?.into_iter().enumerate() {
        let file = source_file(&input.op)?;
        let dir = ctx.out.join(i.to_string());
        std::fs::create_dir_all(&dir)?;
        std::fs::copy(input.dir.join(file), dir.join(file))?;
        items.push(serde_json::json!({ "op": input.op, "file": file }));
    }
    let json = serde_json::json!({ "op": LIST, "items": items });
    std::fs::write(ctx.out.join(SOURCE), json.to_string())?;
    Ok(())
}

/// The `op` of a report's source.json over a list of evaluations.
const LIST: &str = "list";

/// One evaluation a report shows.
struct Item {
    /// The step's name (a family's cell: `probes[s=1]`).
    name: String,
    /// The line or bar group it belongs to: its name, or its family's name
    /// where the list names a whole family.
    series: String,
    op: String,
    /// Where its copied rows are.
    dir: std::path::PathBuf,
    args: Args,
}

/// The evaluations of a report, in the order of its `eval` argument.
fn items(ctx: &PresentCtx<'_>) -> Result<(Vec<Item>, bool), OpError> {
    let source: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ctx.output.join(SOURCE))?)
            .map_err(OpError::failed)?;
    let eval_ref = ctx.args.get("eval").cloned().unwrap_or(Value::None);
    let call_args = |n: usize| -> Args {
        match ctx.program.nodes.get(n).map(|n| &n.value) {
            Some(Value::Call(c)) => c
                .args
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            _ => Args::new(),
        }
    };
    let op = source["op"].as_str().unwrap_or("");
    if op != LIST {
        let name = ctx.label(&eval_ref).unwrap_or_else(|| "eval".into());
        let args = match &eval_ref {
            Value::Node(n) => call_args(*n),
            _ => Args::new(),
        };
        let item = Item {
            series: name.clone(),
            name,
            op: op.to_string(),
            dir: ctx.output.to_path_buf(),
            args,
        };
        return Ok((vec![item], false));
    }
    let listed: Vec<Value> = match &eval_ref {
        Value::List(xs) => xs.clone(),
        other => vec![other.clone()],
    };
    let ops = source["items"].as_array().cloned().unwrap_or_default();
    let members = evaluate::members(&eval_ref, ctx.program);
    if members.len() != ops.len() {
        return Err(OpError::failed(format!(
            "the report's output holds {} evaluations, its spec names {}",
            ops.len(),
            members.len()
        )));
    }
    let items: Vec<Item> = members
        .iter()
        .zip(&ops)
        .enumerate()
        .map(|(i, ((slot, _, node), o))| {
            let name = ctx
                .program
                .nodes
                .get(*node)
                .map_or_else(|| format!("eval{i}"), |n| n.name.clone());
            Item {
                series: listed
                    .get(*slot)
                    .and_then(|v| ctx.label(v))
                    .unwrap_or_else(|| name.clone()),
                name,
                op: o["op"].as_str().unwrap_or("").to_string(),
                dir: ctx.output.join(i.to_string()),
                args: call_args(*node),
            }
        })
        .collect();
    if let Some(other) = items.iter().find(|it| it.op != items[0].op) {
        return Err(OpError::failed(format!(
            "one report draws one kind of evaluation: `{}` is a {}, `{}` is a {}",
            items[0].name, items[0].op, other.name, other.op
        )));
    }
    Ok((items, true))
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
    let (items, listed) = items(ctx)?;
    let Some(first) = items.first() else {
        return Err(OpError::failed(format!(
            "`{}` shows no evaluation",
            ctx.name
        )));
    };
    let eval_name = first.name.clone();
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
    match first.op.as_str() {
        "evaluate" => {
            let mut answers = 0;
            let mut curve_obs: BTreeMap<String, Vec<CurveObs>> = BTreeMap::new();
            for item in &items {
                let rows = evaluate::read_rows(&item.dir)?;
                let samples = named_samples(ctx.program, &item.args, &item.name, &rows);
                write_samples(ctx, &item.name, &samples)?;
                if let Some(m) = item.args.get("metrics") {
                    for c in evaluate::columns(m)? {
                        let range = c.range();
                        report.ranges.insert(c.name, range);
                    }
                }
                answers += samples.len();
                if style == Style::Curve {
                    // Several evaluations in one plot: their lines say whose.
                    let prefix = if listed {
                        format!("{}: ", item.series)
                    } else {
                        String::new()
                    };
                    for (metric, obs) in metric_obs(&rows, &samples, &prefix) {
                        curve_obs.entry(metric).or_default().extend(obs);
                    }
                }
                // Rows evaluated at intermediate checkpoints belong to curves.
                report.samples.extend(
                    samples
                        .into_iter()
                        .zip(&rows)
                        .filter(|(_, r)| r.step.is_none())
                        .map(|(s, _)| s),
                );
            }
            let names: Vec<String> = items.iter().map(|i| format!("`{}`", i.name)).collect();
            report.summary = format!(
                "{} {}: {answers} answers; means with {:.0}% intervals, seeds as clusters.",
                if items.len() > 1 {
                    "Evaluations"
                } else {
                    "Evaluation"
                },
                names.join(", "),
                level * 100.0
            );
            match style {
                Style::Table => {}
                Style::Bar => report.bars.push(BarSpec {
                    name: ctx.name.to_string(),
                    evals: items.iter().map(|i| i.name.clone()).collect(),
                    metrics: metric_names(ctx.args.get("y"))?,
                }),
                Style::Curve => {
                    report.curves = metric_curves(curve_obs, &report.ranges, level)?;
                    if report.curves.is_empty() {
                        return Err(OpError::failed(format!(
                            "`{eval_name}` has no checkpoints to draw: evaluate it with checkpoints = \"all\""
                        )));
                    }
                }
            }
        }
        "logprob_gap" => {
            if style != Style::Table {
                return Err(OpError::failed(format!(
                    "`{eval_name}` is a logprob_gap: show it with table(...)"
                )));
            }
            let mut columns = vec![
                "examples",
                "gap per example",
                "gap per token",
                "log-prob with",
                "log-prob without",
            ];
            if listed {
                columns.splice(0..0, ["evaluation", "prompt"]);
            }
            let mut rows = Vec::new();
            let mut examples = 0;
            for item in &items {
                let gaps: Vec<Gap> = mechanism::read_jsonl(&item.dir.join(mechanism::GAPS))?;
                let col = |f: fn(&Gap) -> f64| -> Vec<f64> { gaps.iter().map(f).collect() };
                let mut row = vec![
                    gaps.len().to_string(),
                    fmt_summary(&col(|g| g.gap), level),
                    fmt_summary(&col(|g| g.gap_per_token), level),
                    fmt_summary(&col(|g| g.with_prompt), level),
                    fmt_summary(&col(|g| g.without), level),
                ];
                if listed {
                    let prompt = item.args.get("prompt").and_then(Value::as_str);
                    row.splice(0..0, [item.name.clone(), prompt.unwrap_or("").to_string()]);
                }
                rows.push(row);
                examples = examples.max(gaps.len());
            }
            report.summary = if listed {
                format!(
                    "Log-prob of the training responses with each evaluation's system prompt minus without it, under its model (up to {examples} examples each; means with {:.0}% t-intervals across examples).",
                    level * 100.0
                )
            } else {
                let prompt = first
                    .args
                    .get("prompt")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                format!(
                    "Log-prob of the training responses with the system prompt \"{prompt}\" minus without it, under the model ({examples} examples; means with {:.0}% t-intervals across examples).",
                    level * 100.0
                )
            };
            report.tables.push(ExtraTable {
                name: ctx.name.to_string(),
                title: if listed {
                    "Log-prob gap".to_string()
                } else {
                    format!("Log-prob gap ({eval_name})")
                },
                columns: columns.into_iter().map(String::from).collect(),
                rows,
            });
        }
        "probe_curve" => {
            if style == Style::Bar {
                return Err(OpError::failed(format!(
                    "`{eval_name}` is a probe_curve: show it with curve(...) or table(...)"
                )));
            }
            let mut obs: Vec<CurveObs> = Vec::new();
            let mut probes = 0;
            let mut runs: Vec<String> = Vec::new();
            for item in &items {
                let points: Vec<ProbePoint> =
                    mechanism::read_jsonl(&item.dir.join(mechanism::CURVE))?;
                let run = item.args.get("run").cloned().unwrap_or(Value::None);
                let run_name = ctx.label(&run).unwrap_or_else(|| "run".into());
                let cells = evaluate::members(&run, ctx.program);
                let member_name = |m: usize| {
                    cells
                        .iter()
                        .find(|c| c.1 == m)
                        .and_then(|c| ctx.program.nodes.get(c.2))
                        .map_or_else(|| format!("{run_name}[{m}]"), |n| n.name.clone())
                };
                // One evaluation: its line is the run. Several: each line is
                // an evaluation (or a family of them, its cells the clusters).
                let series = if listed {
                    item.series.clone()
                } else {
                    run_name.clone()
                };
                obs.extend(points.iter().map(|p| CurveObs {
                    series: series.clone(),
                    member: if listed {
                        format!("{} {}", item.name, member_name(p.member))
                    } else {
                        member_name(p.member)
                    },
                    x: p.step as f64,
                    y: p.logprob,
                }));
                probes = probes.max(points.iter().map(|p| p.probe).max().map_or(0, |m| m + 1));
                if !runs.contains(&run_name) {
                    runs.push(run_name);
                }
            }
            // The probes are the same at every step of every line: they are
            // not noise between lines. Each run's mean over them is one
            // observation, so an interval is across the runs (seeds) only.
            let curve = aggregate_curve(&run_means(&obs), None, level).map_err(OpError::failed)?;
            let runs: Vec<String> = runs.iter().map(|r| format!("`{r}`")).collect();
            report.summary = if listed {
                let lines: Vec<String> = first_seen(items.iter().map(|i| i.series.as_str()));
                format!(
                    "Mean log-prob of fixed probe responses ({probes} at most per evaluation) at the checkpoints of {}: a line per evaluation ({}){}.",
                    runs.join(", "),
                    lines.join(", "),
                    if items.len() > lines.len() {
                        format!(
                            "; a family is one line with a {:.0}% t-interval across its cells (seeds): the probes are the same in every line and step, so they are not a source of noise between lines",
                            level * 100.0
                        )
                    } else {
                        String::new()
                    }
                )
            } else {
                format!(
                    "Mean log-prob of {probes} probe responses across the checkpoints of {}.",
                    runs.join(", ")
                )
            };
            let mut columns = vec!["step", "mean log-prob", "ci low", "ci high", "n"];
            if listed {
                columns.insert(0, "evaluation");
            }
            report.tables.push(ExtraTable {
                name: ctx.name.to_string(),
                title: if listed {
                    "Probe log-prob".to_string()
                } else {
                    format!("Probe log-prob ({eval_name})")
                },
                columns: columns.into_iter().map(String::from).collect(),
                rows: curve
                    .iter()
                    .map(|p| {
                        let mut row = vec![
                            p.x.to_string(),
                            format!("{:.4}", p.mean),
                            p.ci_low.map_or_else(String::new, |v| format!("{v:.4}")),
                            p.ci_high.map_or_else(String::new, |v| format!("{v:.4}")),
                            p.n.to_string(),
                        ];
                        if listed {
                            row.insert(0, p.series.clone());
                        }
                        row
                    })
                    .collect(),
            });
            if style == Style::Curve {
                report.curves.push(CurveSpec {
                    name: ctx.name.to_string(),
                    title: if listed {
                        format!("Probe log-prob over training ({})", ctx.name)
                    } else {
                        format!("Probe log-prob over training ({eval_name})")
                    },
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

/// One observation per (line, run, step): the mean over the probes, in the
/// order the lines first appear.
fn run_means(obs: &[CurveObs]) -> Vec<CurveObs> {
    let mut order: Vec<(String, String, u64)> = Vec::new();
    let mut sums: BTreeMap<(String, String, u64), (f64, usize)> = BTreeMap::new();
    for o in obs {
        let key = (o.series.clone(), o.member.clone(), o.x.to_bits());
        let e = sums.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            (0.0, 0)
        });
        e.0 += o.y;
        e.1 += 1;
    }
    order
        .into_iter()
        .map(|k| {
            let (sum, n) = sums[&k];
            CurveObs {
                series: k.0,
                member: k.1,
                x: f64::from_bits(k.2),
                y: sum / n as f64,
            }
        })
        .collect()
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

/// Per metric, the scores of each model (and condition) at each training
/// step; `prefix` starts every line's name (the evaluation's, when one plot
/// draws several).
fn metric_obs(
    rows: &[evaluate::Row],
    samples: &[Sample],
    prefix: &str,
) -> BTreeMap<String, Vec<CurveObs>> {
    let mut by_metric: BTreeMap<String, Vec<CurveObs>> = BTreeMap::new();
    for (r, s) in rows.iter().zip(samples) {
        let Some(x) = r.x else { continue };
        // Strip the `@step` suffix: a curve's series is the model itself.
        let strip = |n: &str| match r.step {
            Some(st) => n.strip_suffix(&format!("@{st}")).unwrap_or(n).to_string(),
            None => n.to_string(),
        };
        let series = if s.condition.is_empty() {
            format!("{prefix}{}", strip(&s.model))
        } else {
            format!("{prefix}{} | {}", strip(&s.model), s.condition)
        };
        for (metric, score) in &s.scores {
            if let Some(y) = score {
                by_metric.entry(metric.clone()).or_default().push(CurveObs {
                    series: series.clone(),
                    member: format!("{prefix}{}", strip(&s.member)),
                    x: x as f64,
                    y: *y,
                });
            }
        }
    }
    by_metric
}

/// One curve per metric: the mean score of each line at each training step.
fn metric_curves(
    by_metric: BTreeMap<String, Vec<CurveObs>>,
    ranges: &Ranges,
    level: f64,
) -> Result<Vec<CurveSpec>, OpError> {
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
