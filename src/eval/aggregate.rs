//! From scored samples to result rows: per model member (seed) means, then
//! per model (family) and condition the mean with a t-interval across
//! seeds, and paired differences between models (matched by seed) and
//! between conditions (matched by prompt).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::stats::{check_level, paired, summarize, StatsError, Summary};

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

/// What the interval of a result row is taken over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Across the members (seeds) of a family: n = members.
    Seeds,
    /// A single model: across its samples, n = samples.
    Samples,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Seeds => "seeds",
            Unit::Samples => "samples",
        }
    }
}

/// One row of results.csv: a model (family) x condition x metric.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    pub eval: String,
    pub model: String,
    pub condition: String,
    pub metric: String,
    pub mean: f64,
    pub sd: f64,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub n: usize,
    pub unit: Unit,
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
    pub n: usize,
    /// "seed", "prompt", or "fixed" (a single model against each seed).
    pub matched_by: String,
}

/// Everything computed from a set of samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    pub level: f64,
    pub per_seed: Vec<SeedRow>,
    pub results: Vec<ResultRow>,
    pub diffs: Vec<DiffRow>,
}

/// Order of first appearance, so tables follow the spec's order.
fn first_seen<'a>(items: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    items
        .filter(|s| seen.insert(*s))
        .map(str::to_string)
        .collect()
}

fn rank(order: &[String], s: &str) -> usize {
    order.iter().position(|o| o == s).unwrap_or(usize::MAX)
}

fn row(summary: Summary, unit: Unit) -> (f64, f64, Option<f64>, Option<f64>, usize, Unit) {
    (
        summary.mean,
        summary.sd,
        summary.ci_low,
        summary.ci_high,
        summary.n,
        unit,
    )
}

/// Aggregate scored samples at confidence `level` (e.g. 0.95). Rows follow
/// the order in which evals, models, members, conditions and metrics first
/// appear in `samples`.
pub fn aggregate(samples: &[Sample], level: f64) -> Result<Aggregate, StatsError> {
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
    let mut cells: BTreeMap<Key, (Option<i64>, Vec<f64>, usize)> = BTreeMap::new();
    for s in samples {
        for (metric, score) in &s.scores {
            let cell = cells
                .entry(key(&s.eval, &s.model, &s.member, &s.condition, metric))
                .or_insert((s.seed, Vec::new(), 0));
            match score.filter(|v| v.is_finite()) {
                Some(v) => cell.1.push(v),
                None => cell.2 += 1,
            }
        }
    }
    let mut none_of: BTreeMap<(usize, usize, usize, usize), usize> = BTreeMap::new();
    for (k, (_, _, none)) in &cells {
        *none_of.entry((k.0, k.1, k.2, k.3)).or_default() += none;
    }
    let mut per_seed = Vec::new();
    let mut sample_scores: BTreeMap<Key, Vec<f64>> = BTreeMap::new();
    for (k, (seed, values, none)) in &cells {
        if values.is_empty() {
            continue;
        }
        per_seed.push(SeedRow {
            eval: evals[k.0].clone(),
            model: models[k.1].clone(),
            member: members[k.4].clone(),
            seed: *seed,
            condition: conditions[k.2].clone(),
            metric: metrics[k.3].clone(),
            mean: values.iter().sum::<f64>() / values.len() as f64,
            n: values.len(),
            none: *none,
        });
        sample_scores.insert(*k, values.clone());
    }

    // Per family: across members, or across samples for a single model.
    let mut families: BTreeMap<(usize, usize, usize, usize), Vec<Key>> = BTreeMap::new();
    for k in sample_scores.keys() {
        families.entry((k.0, k.1, k.2, k.3)).or_default().push(*k);
    }
    let mut results = Vec::new();
    for (f, keys) in &families {
        let summary = if keys.len() >= 2 {
            let means: Vec<f64> = keys
                .iter()
                .map(|k| {
                    let v = &sample_scores[k];
                    v.iter().sum::<f64>() / v.len() as f64
                })
                .collect();
            summarize(&means, level)?.map(|s| row(s, Unit::Seeds))
        } else {
            summarize(&sample_scores[&keys[0]], level)?.map(|s| row(s, Unit::Samples))
        };
        if let Some((mean, sd, ci_low, ci_high, n, unit)) = summary {
            results.push(ResultRow {
                eval: evals[f.0].clone(),
                model: models[f.1].clone(),
                condition: conditions[f.2].clone(),
                metric: metrics[f.3].clone(),
                mean,
                sd,
                ci_low,
                ci_high,
                n,
                unit,
                none: none_of.get(f).copied().unwrap_or(0),
            });
        }
    }

    let mut diffs = model_diffs(&per_seed, &models, level)?;
    diffs.extend(condition_diffs(
        samples,
        &models,
        &conditions,
        &metrics,
        level,
    )?);
    Ok(Aggregate {
        level,
        per_seed,
        results,
        diffs,
    })
}

/// Differences between every two models (later minus earlier) per eval,
/// condition and metric, matched by seed. A single model (one member)
/// against a family is compared with each member of the family
/// (`matched_by = "fixed"`).
fn model_diffs(
    per_seed: &[SeedRow],
    models: &[String],
    level: f64,
) -> Result<Vec<DiffRow>, StatsError> {
    let mut groups: BTreeMap<(String, String, String), BTreeMap<usize, Vec<&SeedRow>>> =
        BTreeMap::new();
    for r in per_seed {
        groups
            .entry((r.eval.clone(), r.condition.clone(), r.metric.clone()))
            .or_default()
            .entry(rank(models, &r.model))
            .or_default()
            .push(r);
    }
    let mut out = Vec::new();
    for ((eval, condition, metric), by_model) in &groups {
        let ranks: Vec<usize> = by_model.keys().copied().collect();
        for (i, ra) in ranks.iter().enumerate() {
            for rb in &ranks[i + 1..] {
                let (a, b) = (&by_model[ra], &by_model[rb]);
                let (summary, matched_by) = if a.len() == 1 || b.len() == 1 {
                    if a.len() == 1 && b.len() == 1 {
                        continue;
                    }
                    // One fixed model against each member of the other.
                    let (fixed, many, sign) = if a.len() == 1 {
                        (a[0].mean, b, 1.0)
                    } else {
                        (b[0].mean, a, -1.0)
                    };
                    let d: Vec<f64> = many.iter().map(|r| sign * (r.mean - fixed)).collect();
                    (summarize(&d, level)?, "fixed")
                } else {
                    let pa: Vec<(Option<i64>, f64)> = a
                        .iter()
                        .filter(|r| r.seed.is_some())
                        .map(|r| (r.seed, r.mean))
                        .collect();
                    let pb: Vec<(Option<i64>, f64)> = b
                        .iter()
                        .filter(|r| r.seed.is_some())
                        .map(|r| (r.seed, r.mean))
                        .collect();
                    (paired(&pa, &pb, level)?, "seed")
                };
                if let Some(s) = summary {
                    out.push(DiffRow {
                        eval: eval.clone(),
                        metric: metric.clone(),
                        kind: "model".into(),
                        within: condition.clone(),
                        a: models[*ra].clone(),
                        b: models[*rb].clone(),
                        mean: s.mean,
                        ci_low: s.ci_low,
                        ci_high: s.ci_high,
                        n: s.n,
                        matched_by: matched_by.into(),
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Differences between every two test-time conditions per eval, model and
/// metric: per member, the mean of the per-prompt differences; then across
/// members (seeds), or across prompts for a single model.
fn condition_diffs(
    samples: &[Sample],
    models: &[String],
    conditions: &[String],
    metrics: &[String],
    level: f64,
) -> Result<Vec<DiffRow>, StatsError> {
    if conditions.len() < 2 {
        return Ok(Vec::new());
    }
    // (eval, model rank, metric rank) -> member -> condition rank -> [(prompt, score)]
    type PerCond = BTreeMap<usize, Vec<(usize, f64)>>;
    let mut groups: BTreeMap<(String, usize, usize), BTreeMap<String, PerCond>> = BTreeMap::new();
    for s in samples {
        for (metric, score) in &s.scores {
            if let Some(v) = score.filter(|v| v.is_finite()) {
                groups
                    .entry((
                        s.eval.clone(),
                        rank(models, &s.model),
                        rank(metrics, metric),
                    ))
                    .or_default()
                    .entry(s.member.clone())
                    .or_default()
                    .entry(rank(conditions, &s.condition))
                    .or_default()
                    .push((s.prompt_id, v));
            }
        }
    }
    let mut out = Vec::new();
    for ((eval, model, metric), by_member) in &groups {
        for ca in 0..conditions.len() {
            for cb in ca + 1..conditions.len() {
                let mut member_means = Vec::new();
                let mut prompt_diffs = Vec::new();
                for per_cond in by_member.values() {
                    let (Some(a), Some(b)) = (per_cond.get(&ca), per_cond.get(&cb)) else {
                        continue;
                    };
                    let a = mean_per_prompt(a);
                    let b = mean_per_prompt(b);
                    let d: Vec<f64> = b
                        .iter()
                        .filter_map(|(p, vb)| a.get(p).map(|va| vb - va))
                        .collect();
                    if !d.is_empty() {
                        member_means.push(d.iter().sum::<f64>() / d.len() as f64);
                        prompt_diffs.extend(d);
                    }
                }
                let (summary, matched_by) = if member_means.len() >= 2 {
                    (summarize(&member_means, level)?, "seed")
                } else {
                    (summarize(&prompt_diffs, level)?, "prompt")
                };
                if let Some(s) = summary {
                    out.push(DiffRow {
                        eval: eval.clone(),
                        metric: metrics[*metric].clone(),
                        kind: "condition".into(),
                        within: models[*model].clone(),
                        a: conditions[ca].clone(),
                        b: conditions[cb].clone(),
                        mean: s.mean,
                        ci_low: s.ci_low,
                        ci_high: s.ci_high,
                        n: s.n,
                        matched_by: matched_by.into(),
                    });
                }
            }
        }
    }
    Ok(out)
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

/// A point of an aggregated curve: mean across members with a t-interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub series: String,
    pub x: f64,
    pub mean: f64,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub n: usize,
}

/// Average observations per (series, member, x), then across members per
/// (series, x). Series keep their order of first appearance; x ascends.
pub fn aggregate_curve(obs: &[CurveObs], level: f64) -> Result<Vec<CurvePoint>, StatsError> {
    check_level(level)?;
    let series = first_seen(obs.iter().map(|o| o.series.as_str()));
    let mut cells: BTreeMap<(usize, u64, String), Vec<f64>> = BTreeMap::new();
    for o in obs.iter().filter(|o| o.x.is_finite() && o.y.is_finite()) {
        cells
            .entry((rank(&series, &o.series), ordered(o.x), o.member.clone()))
            .or_default()
            .push(o.y);
    }
    let mut points: BTreeMap<(usize, u64), Vec<f64>> = BTreeMap::new();
    for ((s, x, _), ys) in cells {
        points
            .entry((s, x))
            .or_default()
            .push(ys.iter().sum::<f64>() / ys.len() as f64);
    }
    let mut out = Vec::new();
    for ((s, x), means) in points {
        if let Some(sum) = summarize(&means, level)? {
            out.push(CurvePoint {
                series: series[s].clone(),
                x: unordered(x),
                mean: sum.mean,
                ci_low: sum.ci_low,
                ci_high: sum.ci_high,
                n: sum.n,
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
