//! From scored samples to result rows: per model member (seed) means, then
//! per model (family) and condition the mean of the seed means with an
//! interval that treats each seed as a cluster of answers
//! ([`clustered`]), and paired differences between models (matched by seed
//! and prompt) and between conditions (matched by seed and prompt, or by
//! prompt for a single model).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::stats::{check_level, clustered, clustered_diff, Estimate, Method, StatsError};

/// One generation with its scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The eval declaration (`ood`).
    pub eval: String,
    /// The declared model or family (`control`); the unit of a result row.
    pub model: String,
    /// This model's own name (`control[1]`); equal to `model` for a single model.
    pub member: String,
    /// The sweep seed of the member; pairs members across families.
    pub seed: Option<i64>,
    /// The test-time condition: the system prompt, "" for none.
    pub condition: String,
    /// Index of the prompt in the eval's prompt set; pairs conditions.
    pub prompt_id: usize,
    pub prompt: String,
    pub response: String,
    /// Metric name -> score (None: the metric does not apply).
    pub scores: BTreeMap<String, Option<f64>>,
}

/// Mean of one metric for one member under one condition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedRow {
    pub eval: String,
    pub model: String,
    pub member: String,
    pub seed: Option<i64>,
    pub condition: String,
    pub metric: String,
    pub mean: f64,
    /// Samples with a score.
    pub n: usize,
    /// Samples without a score (the metric did not apply, a judge gave
    /// none, an answer the EM rule does not count).
    #[serde(default)]
    pub none: usize,
}

/// The clusters of a result row's interval (see [`crate::eval::stats::Method`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// The members (seeds) of a family: n = members.
    Seeds,
    /// A single model that answered some prompts several times: n = prompts.
    Prompts,
    /// A single model, one answer per prompt: n = answers.
    Samples,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Seeds => "seeds",
            Unit::Prompts => "prompts",
            Unit::Samples => "samples",
        }
    }
}

/// The range of each metric that has one (shares and 0/1 answers: [0, 1];
/// judge scores: [0, 100]). A metric not listed is unbounded.
pub type Ranges = BTreeMap<String, (f64, f64)>;

/// One row of results.csv: a model (family) x condition x metric.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    pub eval: String,
    pub model: String,
    pub condition: String,
    pub metric: String,
    /// Mean of the cluster means.
    pub mean: f64,
    /// Standard deviation of the cluster means.
    pub sd: f64,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Clusters (seeds, prompts or answers: `unit`).
    pub n: usize,
    pub unit: Unit,
    /// Answers with a score, over all clusters.
    #[serde(default)]
    pub answers: usize,
    pub method: Method,
    /// Samples without a score, over all members.
    #[serde(default)]
    pub none: usize,
}

/// A paired difference `b - a`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiffRow {
    pub eval: String,
    pub metric: String,
    /// "model" (a and b are models, `within` the condition) or "condition"
    /// (a and b are conditions, `within` the model).
    pub kind: String,
    pub within: String,
    pub a: String,
    pub b: String,
    pub mean: f64,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Clusters: matched seeds, matched prompts, or the family's seeds
    /// against a fixed model.
    pub n: usize,
    /// "seed" (and prompt within a seed), "prompt", or "fixed" (a single
    /// model against a family: independent groups).
    pub matched_by: String,
    pub method: Method,
}

/// Everything computed from a set of samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    pub level: f64,
    pub per_seed: Vec<SeedRow>,
    pub results: Vec<ResultRow>,
    pub diffs: Vec<DiffRow>,
}

impl Aggregate {
    /// Result rows and differences whose interval rests on 2 or fewer seeds.
    pub fn few_seeds(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut push = |s: String| {
            if !out.contains(&s) {
                out.push(s);
            }
        };
        for r in &self.results {
            if r.unit == Unit::Seeds && r.n <= 2 {
                push(format!("`{}` ({} seeds)", r.model, r.n));
            }
        }
        for d in &self.diffs {
            if d.matched_by == "seed" && d.n <= 2 {
                push(format!("`{}` − `{}` ({} seeds)", d.b, d.a, d.n));
            }
        }
        out
    }
}

/// Order of first appearance, so tables follow the spec's order.
/// Distinct values in order of first appearance.
pub fn first_seen<'a>(items: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    items
        .filter(|s| seen.insert(*s))
        .map(str::to_string)
        .collect()
}

fn rank(order: &[String], s: &str) -> usize {
    order.iter().position(|o| o == s).unwrap_or(usize::MAX)
}

/// The scored answers of one member for one metric under one condition.
struct Cell {
    seed: Option<i64>,
    /// (prompt id, score).
    values: Vec<(usize, f64)>,
    none: usize,
}

impl Cell {
    fn scores(&self) -> Vec<f64> {
        self.values.iter().map(|v| v.1).collect()
    }
}

/// The clusters of a single model: each answer (its mean is then the mean
/// over its answers, as `em_misaligned`'s share among the counted ones must be).
fn single_clusters(values: &[(usize, f64)]) -> (Vec<Vec<f64>>, Unit) {
    (values.iter().map(|v| vec![v.1]).collect(), Unit::Samples)
}

/// Per prompt the mean answer, for the prompts both sides answered.
fn matched_prompts(a: &[(usize, f64)], b: &[(usize, f64)]) -> (Vec<f64>, Vec<f64>) {
    let (a, b) = (mean_per_prompt(a), mean_per_prompt(b));
    a.iter()
        .filter_map(|(p, x)| b.get(p).map(|y| (*x, *y)))
        .unzip()
}

fn slices(c: &[Vec<f64>]) -> Vec<&[f64]> {
    c.iter().map(Vec::as_slice).collect()
}

/// Aggregate scored samples at confidence `level` (e.g. 0.95), with the
/// metrics' `ranges`. Rows follow the order in which evals, models,
/// members, conditions and metrics first appear in `samples`.
pub fn aggregate(samples: &[Sample], ranges: &Ranges, level: f64) -> Result<Aggregate, StatsError> {
    check_level(level)?;
    let evals = first_seen(samples.iter().map(|s| s.eval.as_str()));
    let models = first_seen(samples.iter().map(|s| s.model.as_str()));
    let members = first_seen(samples.iter().map(|s| s.member.as_str()));
    let conditions = first_seen(samples.iter().map(|s| s.condition.as_str()));
    let metrics = first_seen(
        samples
            .iter()
            .flat_map(|s| s.scores.keys().map(String::as_str)),
    );
    type Key = (usize, usize, usize, usize, usize);
    let key = |eval: &str, model: &str, member: &str, cond: &str, metric: &str| -> Key {
        (
            rank(&evals, eval),
            rank(&models, model),
            rank(&conditions, cond),
            rank(&metrics, metric),
            rank(&members, member),
        )
    };

    // Per member: the scores of its samples.
    let mut cells: BTreeMap<Key, Cell> = BTreeMap::new();
    for s in samples {
        for (metric, score) in &s.scores {
            let cell = cells
                .entry(key(&s.eval, &s.model, &s.member, &s.condition, metric))
                .or_insert(Cell {
                    seed: s.seed,
                    values: Vec::new(),
                    none: 0,
                });
            match score.filter(|v| v.is_finite()) {
                Some(v) => cell.values.push((s.prompt_id, v)),
                None => cell.none += 1,
            }
        }
    }
    let mut none_of: BTreeMap<(usize, usize, usize, usize), usize> = BTreeMap::new();
    for (k, c) in &cells {
        *none_of.entry((k.0, k.1, k.2, k.3)).or_default() += c.none;
    }
    cells.retain(|_, c| !c.values.is_empty());
    let per_seed: Vec<SeedRow> = cells
        .iter()
        .map(|(k, c)| SeedRow {
            eval: evals[k.0].clone(),
            model: models[k.1].clone(),
            member: members[k.4].clone(),
            seed: c.seed,
            condition: conditions[k.2].clone(),
            metric: metrics[k.3].clone(),
            mean: c.values.iter().map(|v| v.1).sum::<f64>() / c.values.len() as f64,
            n: c.values.len(),
            none: c.none,
        })
        .collect();

    // Per family: its members are the clusters; a single model's are its
    // prompts or answers.
    let mut families: BTreeMap<(usize, usize, usize, usize), Vec<&Cell>> = BTreeMap::new();
    for (k, c) in &cells {
        families.entry((k.0, k.1, k.2, k.3)).or_default().push(c);
    }
    let range_of = |metric: &str| ranges.get(metric).copied();
    let mut results = Vec::new();
    for (f, group) in &families {
        let (clusters, unit) = if group.len() >= 2 {
            (group.iter().map(|c| c.scores()).collect(), Unit::Seeds)
        } else {
            single_clusters(&group[0].values)
        };
        if let Some(e) = clustered(&slices(&clusters), range_of(&metrics[f.3]), level)? {
            results.push(ResultRow {
                eval: evals[f.0].clone(),
                model: models[f.1].clone(),
                condition: conditions[f.2].clone(),
                metric: metrics[f.3].clone(),
                mean: e.mean,
                sd: e.sd,
                ci_low: e.ci_low,
                ci_high: e.ci_high,
                n: e.clusters,
                unit,
                answers: e.n,
                method: e.method,
                none: none_of.get(f).copied().unwrap_or(0),
            });
        }
    }

    let mut diffs = Vec::new();
    // Between models, per eval, condition and metric (later minus earlier).
    let mut by_group: BTreeMap<(usize, usize, usize), BTreeMap<usize, Vec<&Cell>>> =
        BTreeMap::new();
    for (k, c) in &cells {
        by_group
            .entry((k.0, k.2, k.3))
            .or_default()
            .entry(k.1)
            .or_default()
            .push(c);
    }
    for ((e, cond, metric), by_model) in &by_group {
        let ranks: Vec<usize> = by_model.keys().copied().collect();
        for (i, ra) in ranks.iter().enumerate() {
            for rb in &ranks[i + 1..] {
                let (a, b) = (&by_model[ra], &by_model[rb]);
                let Some((est, matched_by)) = model_diff(a, b, range_of(&metrics[*metric]), level)?
                else {
                    continue;
                };
                diffs.push(DiffRow {
                    eval: evals[*e].clone(),
                    metric: metrics[*metric].clone(),
                    kind: "model".into(),
                    within: conditions[*cond].clone(),
                    a: models[*ra].clone(),
                    b: models[*rb].clone(),
                    mean: est.mean,
                    ci_low: est.ci_low,
                    ci_high: est.ci_high,
                    n: est.clusters,
                    matched_by: matched_by.into(),
                    method: est.method,
                });
            }
        }
    }
    // Between conditions, per eval, model and metric.
    // (eval, model, metric) -> member -> condition -> cell
    type ByMember<'c> = BTreeMap<usize, BTreeMap<usize, &'c Cell>>;
    let mut by_model: BTreeMap<(usize, usize, usize), ByMember> = BTreeMap::new();
    for (k, c) in &cells {
        by_model
            .entry((k.0, k.1, k.3))
            .or_default()
            .entry(k.4)
            .or_default()
            .insert(k.2, c);
    }
    for ((e, model, metric), by_member) in &by_model {
        for ca in 0..conditions.len() {
            for cb in ca + 1..conditions.len() {
                let pairs: Vec<(&Cell, &Cell)> = by_member
                    .values()
                    .filter_map(|m| Some((*m.get(&ca)?, *m.get(&cb)?)))
                    .collect();
                if pairs.is_empty() {
                    continue;
                }
                let (xa, xb, matched_by): (Vec<Vec<f64>>, Vec<Vec<f64>>, &str) = if pairs.len() >= 2
                {
                    let (xa, xb) = pairs
                        .iter()
                        .map(|(a, b)| matched_prompts(&a.values, &b.values))
                        .unzip();
                    (xa, xb, "seed")
                } else {
                    let (xa, xb) = matched_prompts(&pairs[0].0.values, &pairs[0].1.values);
                    (
                        xa.into_iter().map(|x| vec![x]).collect(),
                        xb.into_iter().map(|x| vec![x]).collect(),
                        "prompt",
                    )
                };
                let Some(est) = clustered_diff(
                    &slices(&xa),
                    &slices(&xb),
                    true,
                    range_of(&metrics[*metric]),
                    level,
                )?
                else {
                    continue;
                };
                diffs.push(DiffRow {
                    eval: evals[*e].clone(),
                    metric: metrics[*metric].clone(),
                    kind: "condition".into(),
                    within: models[*model].clone(),
                    a: conditions[ca].clone(),
                    b: conditions[cb].clone(),
                    mean: est.mean,
                    ci_low: est.ci_low,
                    ci_high: est.ci_high,
                    n: est.clusters,
                    matched_by: matched_by.into(),
                    method: est.method,
                });
            }
        }
    }
    Ok(Aggregate {
        level,
        per_seed,
        results,
        diffs,
    })
}

/// `b − a` between two models' cells: two families matched by seed (and by
/// prompt within a seed); a single model against a family as independent
/// groups ("fixed"); two single models not at all (None).
fn model_diff(
    a: &[&Cell],
    b: &[&Cell],
    range: Option<(f64, f64)>,
    level: f64,
) -> Result<Option<(Estimate, &'static str)>, StatsError> {
    if a.len() == 1 && b.len() == 1 {
        return Ok(None);
    }
    if a.len() == 1 || b.len() == 1 {
        let side = |g: &[&Cell]| -> Vec<Vec<f64>> {
            if g.len() == 1 {
                single_clusters(&g[0].values).0
            } else {
                g.iter().map(|c| c.scores()).collect()
            }
        };
        let (xa, xb) = (side(a), side(b));
        return Ok(
            clustered_diff(&slices(&xa), &slices(&xb), false, range, level)?.map(|mut e| {
                e.clusters = a.len().max(b.len());
                (e, "fixed")
            }),
        );
    }
    let mut xa = Vec::new();
    let mut xb = Vec::new();
    let mut seen = BTreeSet::new();
    for ca in a {
        let Some(seed) = ca.seed else { continue };
        if !seen.insert(seed) {
            continue;
        }
        if let Some(cb) = b.iter().find(|c| c.seed == Some(seed)) {
            let (pa, pb) = matched_prompts(&ca.values, &cb.values);
            xa.push(pa);
            xb.push(pb);
        }
    }
    Ok(clustered_diff(&slices(&xa), &slices(&xb), true, range, level)?.map(|e| (e, "seed")))
}

/// Several samples of one prompt (n > 1) are averaged first.
fn mean_per_prompt(xs: &[(usize, f64)]) -> BTreeMap<usize, f64> {
    let mut acc: BTreeMap<usize, (f64, usize)> = BTreeMap::new();
    for (p, v) in xs {
        let e = acc.entry(*p).or_insert((0.0, 0));
        e.0 += v;
        e.1 += 1;
    }
    acc.into_iter()
        .map(|(p, (s, k))| (p, s / k as f64))
        .collect()
}

/// One observation of a curve: a value of `member` (of `series`) at `x`
/// (e.g. a probe's mean log-prob at a training step).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurveObs {
    pub series: String,
    pub member: String,
    pub x: f64,
    pub y: f64,
}

/// A point of an aggregated curve: mean across members with an interval
/// (members are the clusters).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub series: String,
    pub x: f64,
    pub mean: f64,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub n: usize,
}

/// Per (series, x) the mean across members, each member a cluster of its
/// observations ([`clustered`], with the metric's `range` if it has one).
/// Series keep their order of first appearance; x ascends.
pub fn aggregate_curve(
    obs: &[CurveObs],
    range: Option<(f64, f64)>,
    level: f64,
) -> Result<Vec<CurvePoint>, StatsError> {
    check_level(level)?;
    let series = first_seen(obs.iter().map(|o| o.series.as_str()));
    let mut cells: BTreeMap<(usize, u64, String), Vec<f64>> = BTreeMap::new();
    for o in obs.iter().filter(|o| o.x.is_finite() && o.y.is_finite()) {
        cells
            .entry((rank(&series, &o.series), ordered(o.x), o.member.clone()))
            .or_default()
            .push(o.y);
    }
    let mut points: BTreeMap<(usize, u64), Vec<Vec<f64>>> = BTreeMap::new();
    for ((s, x, _), ys) in cells {
        points.entry((s, x)).or_default().push(ys);
    }
    let mut out = Vec::new();
    for ((s, x), members) in points {
        if let Some(e) = clustered(&slices(&members), range, level)? {
            out.push(CurvePoint {
                series: series[s].clone(),
                x: unordered(x),
                mean: e.mean,
                ci_low: e.ci_low,
                ci_high: e.ci_high,
                n: e.clusters,
            });
        }
    }
    Ok(out)
}

/// A total order on finite f64 as u64 (sign-flipped bits).
fn ordered(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

fn unordered(k: u64) -> f64 {
    if k >> 63 == 1 {
        f64::from_bits(k & !(1 << 63))
    } else {
        f64::from_bits(!k)
    }
}
