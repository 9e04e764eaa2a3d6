//! Layer `report`: CSV / JSONL / Markdown tables, SVG + PNG plots, offline HTML.
//!
//! [`write_report`] writes, into one folder:
//! - `results.csv`: one row per eval x model (family) x condition x metric,
//!   seeds aggregated (mean, interval, n clusters, unit, answers, method:
//!   see [`crate::eval::Method`]);
//! - `results_per_seed.csv`: one row per model member (seed);
//! - `diffs.csv`: paired differences between models and between conditions;
//! - `samples.jsonl`: every generation with its scores (unless
//!   [`Report::write_samples`] is off: a run writes them once per
//!   evaluation, beside its reports);
//! - `plots/*.svg` and `plots/*.png`: a bar chart per eval and condition,
//!   and each curve;
//! - one CSV per extra table (`table_<name>.csv`);
//! - `report.md` and `report.html` (self-contained: inline SVG and CSS).

pub mod page;
mod plot;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::eval::{aggregate, Aggregate, CurvePoint, Ranges, ResultRow, Sample, StatsError};
pub use plot::{
    bar_svg, line_svg, svg_to_png, BarChart, BarSeries, BarValue, LineChart, LineSeries,
};
use plot::{escape, value_label};

/// A bar chart of some metrics of one eval (one chart per test-time
/// condition). Empty `metrics`: all metrics of the eval.
#[derive(Clone, Debug, PartialEq)]
pub struct BarSpec {
    /// File stem under `plots/` (sanitised).
    pub name: String,
    /// One eval: a group per metric. Several: a group per eval and metric,
    /// in one chart per condition.
    pub evals: Vec<String>,
    pub metrics: Vec<String>,
}

/// A curve over training checkpoints, already aggregated
/// (see [`crate::eval::aggregate_curve`]).
#[derive(Clone, Debug, PartialEq)]
pub struct CurveSpec {
    pub name: String,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub points: Vec<CurvePoint>,
}

/// An extra table (e.g. the mechanism log-prob gaps).
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub name: String,
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Everything a report shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub title: String,
    /// Markdown paragraphs shown under the title (the outcome, in words).
    pub summary: String,
    /// Confidence level of every interval, e.g. 0.95.
    pub level: f64,
    pub samples: Vec<Sample>,
    /// The range of each bounded metric of the samples.
    pub ranges: Ranges,
    /// Whether to write `samples.jsonl` into the report's folder.
    pub write_samples: bool,
    pub bars: Vec<BarSpec>,
    pub curves: Vec<CurveSpec>,
    pub tables: Vec<Table>,
}

/// Errors writing a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot render {path}: {message}")]
    Render { path: PathBuf, message: String },
    #[error(transparent)]
    Stats(#[from] StatsError),
    #[error("bar chart `{name}` names eval `{eval}`, which has no samples")]
    UnknownEval { name: String, eval: String },
    #[error("bar chart `{name}` names metric `{metric}`, which eval `{eval}` did not score")]
    UnknownMetric {
        name: String,
        eval: String,
        metric: String,
    },
}

/// What [`write_report`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    pub dir: PathBuf,
    /// Paths relative to `dir`, in writing order.
    pub files: Vec<PathBuf>,
    pub aggregate: Aggregate,
}

struct Out<'a> {
    dir: &'a Path,
    files: Vec<PathBuf>,
}

impl Out<'_> {
    fn write(&mut self, rel: &str, bytes: &[u8]) -> Result<(), ReportError> {
        let path = self.dir.join(rel);
        let io = |source| ReportError::Io {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        // Write to a temporary sibling, then rename: readers never see half a file.
        let tmp = path.with_extension(format!(
            "{}.tmp",
            path.extension().and_then(|e| e.to_str()).unwrap_or("")
        ));
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        self.files.push(PathBuf::from(rel));
        Ok(())
    }
}

/// The display name of a test-time condition.
pub fn condition_label(condition: &str) -> String {
    if condition.is_empty() {
        "no system prompt".to_string()
    } else {
        format!("system: {condition}")
    }
}

/// A file-name-safe stem.
fn stem(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if t.is_empty() {
        "plot".into()
    } else {
        t
    }
}

fn opt(x: Option<f64>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

fn csv_bytes(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).expect("in-memory write");
    for r in rows {
        w.write_record(&r).expect("in-memory write");
    }
    w.into_inner().expect("in-memory flush")
}

/// Header of `results.csv`.
pub const RESULTS_COLUMNS: &[&str] = &[
    "eval",
    "model",
    "condition",
    "metric",
    "mean",
    "ci_low",
    "ci_high",
    "n",
    "unit",
    "sd",
    "level",
    "none",
    "answers",
    "method",
];
/// Header of `results_per_seed.csv`.
pub const PER_SEED_COLUMNS: &[&str] = &[
    "eval",
    "model",
    "member",
    "seed",
    "condition",
    "metric",
    "mean",
    "n",
    "none",
];
/// Header of `diffs.csv`.
pub const DIFF_COLUMNS: &[&str] = &[
    "eval",
    "metric",
    "kind",
    "within",
    "a",
    "b",
    "mean_b_minus_a",
    "ci_low",
    "ci_high",
    "n",
    "matched_by",
    "level",
    "method",
];

/// Aggregate the samples and write every file of the report into `dir`
/// (created if missing; existing report files are replaced).
pub fn write_report(dir: &Path, report: &Report) -> Result<Written, ReportError> {
    let agg = aggregate(&report.samples, &report.ranges, report.level)?;
    let mut out = Out {
        dir,
        files: Vec::new(),
    };
    let level = report.level.to_string();

    out.write(
        "results.csv",
        &csv_bytes(
            RESULTS_COLUMNS,
            agg.results.iter().map(|r| {
                vec![
                    r.eval.clone(),
                    r.model.clone(),
                    r.condition.clone(),
                    r.metric.clone(),
                    r.mean.to_string(),
                    opt(r.ci_low),
                    opt(r.ci_high),
                    r.n.to_string(),
                    r.unit.as_str().to_string(),
                    r.sd.to_string(),
                    level.clone(),
                    r.none.to_string(),
                    r.answers.to_string(),
                    r.method.as_str().to_string(),
                ]
            }),
        ),
    )?;
    out.write(
        "results_per_seed.csv",
        &csv_bytes(
            PER_SEED_COLUMNS,
            agg.per_seed.iter().map(|r| {
                vec![
                    r.eval.clone(),
                    r.model.clone(),
                    r.member.clone(),
                    r.seed.map(|s| s.to_string()).unwrap_or_default(),
                    r.condition.clone(),
                    r.metric.clone(),
                    r.mean.to_string(),
                    r.n.to_string(),
                    r.none.to_string(),
                ]
            }),
        ),
    )?;
    out.write(
        "diffs.csv",
        &csv_bytes(
            DIFF_COLUMNS,
            agg.diffs.iter().map(|d| {
                vec![
                    d.eval.clone(),
                    d.metric.clone(),
                    d.kind.clone(),
                    d.within.clone(),
                    d.a.clone(),
                    d.b.clone(),
                    d.mean.to_string(),
                    opt(d.ci_low),
                    opt(d.ci_high),
                    d.n.to_string(),
                    d.matched_by.clone(),
                    level.clone(),
                    d.method.as_str().to_string(),
                ]
            }),
        ),
    )?;
    if report.write_samples {
        out.write("samples.jsonl", &samples_jsonl(&report.samples))?;
    }

    // Plots.
    let mut figures: Vec<Figure> = Vec::new();
    for spec in &report.bars {
        for (condition, chart) in bar_charts(spec, &agg, report.level)? {
            let name = if condition.is_empty() {
                stem(&spec.name)
            } else {
                format!("{}__{}", stem(&spec.name), stem(&condition))
            };
            figures.push(Figure {
                name,
                title: chart.title.clone(),
                svg: bar_svg(&chart),
            });
        }
    }
    for c in &report.curves {
        figures.push(Figure {
            name: stem(&c.name),
            title: c.title.clone(),
            svg: line_svg(&curve_chart(c)),
        });
    }
    let mut used = BTreeMap::new();
    for f in &mut figures {
        let k = used.entry(f.name.clone()).or_insert(0);
        *k += 1;
        if *k > 1 {
            f.name = format!("{}_{}", f.name, k);
        }
        let svg_rel = format!("plots/{}.svg", f.name);
        out.write(&svg_rel, f.svg.as_bytes())?;
        let png = svg_to_png(&f.svg, 2.0).map_err(|message| ReportError::Render {
            path: dir.join(&svg_rel),
            message,
        })?;
        out.write(&format!("plots/{}.png", f.name), &png)?;
    }
    for t in &report.tables {
        out.write(
            &format!("table_{}.csv", stem(&t.name)),
            &csv_bytes(
                &t.columns.iter().map(String::as_str).collect::<Vec<_>>(),
                t.rows.iter().cloned(),
            ),
        )?;
    }

    let md = markdown(report, &agg, &figures);
    out.write("report.md", md.as_bytes())?;
    let html = html(report, &agg, &figures);
    out.write("report.html", html.as_bytes())?;
    Ok(Written {
        dir: dir.to_path_buf(),
        files: out.files,
        aggregate: agg,
    })
}

/// Samples as JSON lines.
pub fn samples_jsonl(samples: &[Sample]) -> Vec<u8> {
    let mut jsonl = Vec::new();
    for s in samples {
        serde_json::to_writer(&mut jsonl, s).expect("samples serialise");
        jsonl.push(b'\n');
    }
    jsonl
}

struct Figure {
    name: String,
    title: String,
    svg: String,
}

/// One bar chart per condition of the eval: groups are metrics, series
/// are models, dots are the per-seed means.
fn bar_charts(
    spec: &BarSpec,
    agg: &Aggregate,
    level: f64,
) -> Result<Vec<(String, BarChart)>, ReportError> {
    let rows: Vec<&ResultRow> = agg
        .results
        .iter()
        .filter(|r| spec.evals.contains(&r.eval))
        .collect();
    // Per eval, the metrics it draws (all it scored when `metrics` is empty).
    let mut groups: Vec<(&str, String)> = Vec::new();
    for eval in &spec.evals {
        let mut scored: Vec<&String> = Vec::new();
        for r in rows.iter().filter(|r| &r.eval == eval) {
            if !scored.contains(&&r.metric) {
                scored.push(&r.metric);
            }
        }
        if scored.is_empty() {
            return Err(ReportError::UnknownEval {
                name: spec.name.clone(),
                eval: eval.clone(),
            });
        }
        if let Some(m) = spec.metrics.iter().find(|m| !scored.contains(m)) {
            return Err(ReportError::UnknownMetric {
                name: spec.name.clone(),
                eval: eval.clone(),
                metric: m.clone(),
            });
        }
        let drawn: Vec<String> = if spec.metrics.is_empty() {
            scored.into_iter().cloned().collect()
        } else {
            spec.metrics.clone()
        };
        groups.extend(drawn.into_iter().map(|m| (eval.as_str(), m)));
    }
    let several = spec.evals.len() > 1;
    let mut conditions: Vec<String> = Vec::new();
    let mut models: Vec<String> = Vec::new();
    for r in &rows {
        if !conditions.contains(&r.condition) {
            conditions.push(r.condition.clone());
        }
        if !models.contains(&r.model) {
            models.push(r.model.clone());
        }
    }
    let pct = (level * 100.0).round();
    let mut charts = Vec::new();
    for cond in &conditions {
        let series = models
            .iter()
            .map(|model| BarSeries {
                label: model.clone(),
                values: groups
                    .iter()
                    .map(|(eval, metric)| {
                        let r = rows.iter().find(|r| {
                            r.eval == *eval
                                && &r.model == model
                                && &r.metric == metric
                                && &r.condition == cond
                        })?;
                        let points = if r.unit == crate::eval::Unit::Seeds {
                            agg.per_seed
                                .iter()
                                .filter(|s| {
                                    s.eval == *eval
                                        && &s.model == model
                                        && &s.metric == metric
                                        && &s.condition == cond
                                })
                                .map(|s| s.mean)
                                .collect()
                        } else {
                            Vec::new()
                        };
                        Some(BarValue {
                            mean: r.mean,
                            ci: r.ci_low.zip(r.ci_high),
                            points,
                        })
                    })
                    .collect(),
            })
            .collect();
        charts.push((
            cond.clone(),
            BarChart {
                title: format!("{}: {}", spec.evals.join(", "), condition_label(cond)),
                y_label: format!("mean ({pct}% interval, seeds as clusters)"),
                groups: groups
                    .iter()
                    .map(|(eval, metric)| {
                        if several {
                            format!("{eval}: {metric}")
                        } else {
                            metric.clone()
                        }
                    })
                    .collect(),
                series,
            },
        ));
    }
    Ok(charts)
}

fn curve_chart(c: &CurveSpec) -> LineChart {
    let mut series: Vec<LineSeries> = Vec::new();
    for p in &c.points {
        let idx = match series.iter().position(|s| s.label == p.series) {
            Some(i) => i,
            None => {
                series.push(LineSeries {
                    label: p.series.clone(),
                    points: Vec::new(),
                });
                series.len() - 1
            }
        };
        series[idx]
            .points
            .push((p.x, p.mean, p.ci_low.zip(p.ci_high)));
    }
    LineChart {
        title: c.title.clone(),
        x_label: c.x_label.clone(),
        y_label: c.y_label.clone(),
        series,
    }
}

/// A summary paragraph (Markdown text) as HTML: escaped, with its
/// `code spans` as <code>; an unpaired backtick stays a backtick.
fn inline_code(text: &str) -> String {
    let parts: Vec<&str> = text.split('`').collect();
    let paired = if parts.len() % 2 == 1 {
        parts.len()
    } else {
        parts.len() - 1
    };
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i >= paired {
            out.push('`');
            out.push_str(&escape(part));
        } else if i % 2 == 1 {
            let _ = write!(out, "<code>{}</code>", escape(part));
        } else {
            out.push_str(&escape(part));
        }
    }
    out
}

fn cell(mean: f64, lo: Option<f64>, hi: Option<f64>) -> String {
    match (lo, hi) {
        (Some(a), Some(b)) => format!(
            "{} [{}, {}]",
            value_label(mean),
            value_label(a),
            value_label(b)
        ),
        _ => value_label(mean),
    }
}

/// Per eval and condition: a models x metrics table of "mean [lo, hi]".
struct Grid {
    eval: String,
    condition: String,
    metrics: Vec<String>,
    rows: Vec<(String, Vec<String>, String)>,
}

/// The grids of the samples' evals and conditions, with every metric and
/// model that has samples there (in order of first appearance). A cell whose
/// samples lack some scores says how many ("(3 none)"); one with no score at
/// all is "–".
fn grids(samples: &[Sample], agg: &Aggregate) -> Vec<Grid> {
    let mut metric_order: Vec<&str> = Vec::new();
    for s in samples {
        for m in s.scores.keys() {
            if !metric_order.contains(&m.as_str()) {
                metric_order.push(m);
            }
        }
    }
    // (eval, condition) -> models, metrics; (eval, condition, model, metric) -> no score.
    let mut order: Vec<(&str, &str, Vec<&str>, Vec<&str>)> = Vec::new();
    let mut none: BTreeMap<(&str, &str, &str, &str), usize> = BTreeMap::new();
    for s in samples {
        let gi = match order
            .iter()
            .position(|g| g.0 == s.eval && g.1 == s.condition)
        {
            Some(i) => i,
            None => {
                order.push((&s.eval, &s.condition, Vec::new(), Vec::new()));
                order.len() - 1
            }
        };
        let g = &mut order[gi];
        if !g.2.contains(&s.model.as_str()) {
            g.2.push(&s.model);
        }
        for (m, v) in &s.scores {
            if !g.3.contains(&m.as_str()) {
                g.3.push(m);
            }
            if !v.is_some_and(f64::is_finite) {
                *none
                    .entry((&s.eval, &s.condition, &s.model, m))
                    .or_default() += 1;
            }
        }
    }
    let mut out = Vec::new();
    for (eval, condition, models, mut metrics) in order {
        metrics.sort_by_key(|m| metric_order.iter().position(|x| x == m));
        let mut g = Grid {
            eval: eval.to_string(),
            condition: condition.to_string(),
            metrics: metrics.iter().map(|m| m.to_string()).collect(),
            rows: Vec::new(),
        };
        for m in models {
            let mut n_desc = String::new();
            let cells = metrics
                .iter()
                .map(|metric| {
                    let missing = none
                        .get(&(eval, condition, m, metric))
                        .copied()
                        .unwrap_or(0);
                    let found = agg.results.iter().find(|r| {
                        r.eval == eval
                            && r.condition == condition
                            && r.model == m
                            && r.metric == *metric
                    });
                    let text = match found {
                        Some(r) => {
                            if n_desc.is_empty() {
                                n_desc = format!("{} {}", r.n, r.unit.as_str());
                            }
                            cell(r.mean, r.ci_low, r.ci_high)
                        }
                        None => "–".into(),
                    };
                    if missing > 0 {
                        format!("{text} ({missing} none)")
                    } else {
                        text
                    }
                })
                .collect();
            g.rows.push((m.to_string(), cells, n_desc));
        }
        out.push(g);
    }
    out
}

/// Which interval methods the rows use, and why, in one paragraph.
fn methods_text(agg: &Aggregate) -> String {
    use crate::eval::Method;
    let used = |m: Method| {
        agg.results.iter().any(|r| r.method == m) || agg.diffs.iter().any(|d| d.method == m)
    };
    let mut parts = vec!["Intervals treat each seed of a family as a cluster of answers: answers of one seed are not independent of each other, and with few seeds the seed-to-seed spread is known poorly.".to_string()];
    if used(Method::KornGraubard) {
        parts.push("Metrics with a range (shares, 0/1 answers, judge scores 0–100) get the Korn–Graubard interval: the variance of the mean from the spread of the seed means (cluster-robust), never below that of independent answers, turned into an effective number of answers, shrunk for the few seeds (t with seeds − 1 degrees of freedom), and a Clopper–Pearson interval at that size; it stays inside the metric's range.".to_string());
    }
    if used(Method::T) {
        parts.push("Unbounded metrics get a t-interval across the clusters.".to_string());
    }
    if used(Method::Mover) {
        parts.push("Differences b − a are matched by seed and by prompt within a seed (by prompt for a single model); their interval (MOVER, Newcombe / Zou–Donner) combines the two groups' intervals with the correlation of the paired seed means, and stays inside the range of a difference.".to_string());
    }
    parts.join(" ")
}

/// The warning for intervals that rest on 2 or fewer seeds, if any.
fn few_seeds_text(agg: &Aggregate) -> Option<String> {
    let few = agg.few_seeds();
    (!few.is_empty()).then(|| {
        format!(
            "intervals resting on 2 or fewer seeds are wide and uncertain themselves (t with 1 degree of freedom): {}. Train with 3 or more seeds.",
            few.join(", ")
        )
    })
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn markdown(report: &Report, agg: &Aggregate, figures: &[Figure]) -> String {
    let pct = (report.level * 100.0).round();
    let mut md = String::new();
    let _ = writeln!(md, "# {}\n", report.title);
    if !report.summary.trim().is_empty() {
        let _ = writeln!(md, "{}\n", report.summary.trim());
    }
    let _ = writeln!(
        md,
        "Cells: mean [{pct}% interval]; n: the clusters the interval rests on (seeds of a model family; prompts or answers of a single model); \"(k none)\": k answers without a score. Full numbers: `results.csv`, `results_per_seed.csv`, `diffs.csv`, `samples.jsonl`.\n"
    );
    let _ = writeln!(md, "{}\n", methods_text(agg));
    if let Some(w) = few_seeds_text(agg) {
        let _ = writeln!(md, "> **Warning:** {w}\n");
    }
    for g in grids(&report.samples, agg) {
        let _ = writeln!(md, "## {} — {}\n", g.eval, condition_label(&g.condition));
        let _ = write!(md, "| model |");
        for m in &g.metrics {
            let _ = write!(md, " {} |", md_escape(m));
        }
        let _ = writeln!(md, " n |");
        let _ = writeln!(md, "|---|{}---|", "---|".repeat(g.metrics.len()));
        for (model, cells, n) in &g.rows {
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                md_escape(model),
                cells.join(" | "),
                n
            );
        }
        md.push('\n');
    }
    if !agg.diffs.is_empty() {
        let _ = writeln!(md, "## Paired differences (b − a)\n");
        let _ = writeln!(
            md,
            "| eval | metric | within | a | b | b − a [{pct}% CI] | n | matched by |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
        for d in &agg.diffs {
            let within = if d.kind == "model" {
                condition_label(&d.within)
            } else {
                d.within.clone()
            };
            let (a, b) = if d.kind == "condition" {
                (condition_label(&d.a), condition_label(&d.b))
            } else {
                (d.a.clone(), d.b.clone())
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                md_escape(&d.eval),
                md_escape(&d.metric),
                md_escape(&within),
                md_escape(&a),
                md_escape(&b),
                cell(d.mean, d.ci_low, d.ci_high),
                d.n,
                d.matched_by
            );
        }
        md.push('\n');
    }
    for t in &report.tables {
        let _ = writeln!(md, "## {}\n", t.title);
        let _ = writeln!(
            md,
            "| {} |",
            t.columns
                .iter()
                .map(|c| md_escape(c))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        let _ = writeln!(md, "|{}", "---|".repeat(t.columns.len()));
        for r in &t.rows {
            let _ = writeln!(
                md,
                "| {} |",
                r.iter()
                    .map(|c| md_escape(c))
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
        }
        md.push('\n');
    }
    if !figures.is_empty() {
        let _ = writeln!(md, "## Plots\n");
        for f in figures {
            let _ = writeln!(md, "![{}](plots/{}.svg)\n", md_escape(&f.title), f.name);
        }
    }
    md
}

const CSS: &str = "body{font-family:'DejaVu Sans',Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}\
th{background:#f3f3f3}figure{margin:1em 0}figcaption{color:#555;font-size:0.9em}svg{max-width:100%;height:auto}\
.summary{background:#f8f8f8;border-left:4px solid #0072B2;padding:0.5em 1em}\
.method{color:#444;font-size:0.9em}.warning{background:#fff4e5;border-left:4px solid #E69F00;padding:0.5em 1em}";

fn html(report: &Report, agg: &Aggregate, figures: &[Figure]) -> String {
    let pct = (report.level * 100.0).round();
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{CSS}</style></head><body>\n<h1>{}</h1>\n",
        escape(&report.title),
        escape(&report.title)
    );
    if !report.summary.trim().is_empty() {
        h.push_str("<div class=\"summary\">");
        for para in report.summary.trim().split("\n\n") {
            let _ = write!(h, "<p>{}</p>", inline_code(para));
        }
        h.push_str("</div>\n");
    }
    let _ = writeln!(
        h,
        "<p>Cells: mean [{pct}% interval]; n: the clusters the interval rests on (seeds of a model family; prompts or answers of a single model).</p>\n<p class=\"method\">{}</p>",
        escape(&methods_text(agg))
    );
    if let Some(w) = few_seeds_text(agg) {
        let _ = writeln!(h, "<p class=\"warning\"><b>Warning:</b> {}</p>", escape(&w));
    }
    for g in grids(&report.samples, agg) {
        let _ = write!(
            h,
            "<h2>{} — {}</h2><table><tr><th>model</th>",
            escape(&g.eval),
            escape(&condition_label(&g.condition))
        );
        for m in &g.metrics {
            let _ = write!(h, "<th>{}</th>", escape(m));
        }
        h.push_str("<th>n</th></tr>");
        for (model, cells, n) in &g.rows {
            let _ = write!(h, "<tr><td>{}</td>", escape(model));
            for c in cells {
                let _ = write!(h, "<td>{}</td>", escape(c));
            }
            let _ = write!(h, "<td>{}</td></tr>", escape(n));
        }
        h.push_str("</table>\n");
    }
    for t in &report.tables {
        let _ = write!(h, "<h2>{}</h2><table><tr>", escape(&t.title));
        for c in &t.columns {
            let _ = write!(h, "<th>{}</th>", escape(c));
        }
        h.push_str("</tr>");
        for r in &t.rows {
            h.push_str("<tr>");
            for c in r {
                let _ = write!(h, "<td>{}</td>", escape(c));
            }
            h.push_str("</tr>");
        }
        h.push_str("</table>\n");
    }
    if !figures.is_empty() {
        h.push_str("<h2>Plots</h2>\n");
        for f in figures {
            // Inline SVG needs no namespace declaration in HTML.
            let svg = f
                .svg
                .replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1);
            let _ = writeln!(
                h,
                "<figure>{}<figcaption>{} (plots/{}.svg, .png)</figcaption></figure>",
                svg.trim_end(),
                escape(&f.title),
                escape(&f.name)
            );
        }
    }
    if !agg.diffs.is_empty() {
        let _ = write!(
            h,
            "<h2>Paired differences (b − a)</h2><table><tr><th>eval</th><th>metric</th><th>within</th><th>a</th><th>b</th><th>b − a [{pct}% CI]</th><th>n</th><th>matched by</th></tr>"
        );
        for d in &agg.diffs {
            let (within, a, b) = if d.kind == "model" {
                (condition_label(&d.within), d.a.clone(), d.b.clone())
            } else {
                (
                    d.within.clone(),
                    condition_label(&d.a),
                    condition_label(&d.b),
                )
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&d.eval),
                escape(&d.metric),
                escape(&within),
                escape(&a),
                escape(&b),
                escape(&cell(d.mean, d.ci_low, d.ci_high)),
                d.n,
                escape(&d.matched_by)
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::inline_code;

    #[test]
    fn summaries_show_code_spans_as_code() {
        assert_eq!(
            inline_code("Evaluation `ood` of <b>"),
            "Evaluation <code>ood</code> of &lt;b&gt;"
        );
        assert_eq!(inline_code("a `b` c `d"), "a <code>b</code> c `d");
        assert_eq!(inline_code("`<`"), "<code>&lt;</code>");
        assert_eq!(inline_code("plain"), "plain");
    }
}
