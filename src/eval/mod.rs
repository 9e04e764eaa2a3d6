//! Layer `eval`: per-sample metrics, judges, aggregation with confidence
//! intervals, paired comparisons. Plain types only (no candle, no I/O).
//!
//! - [`Metric`]: language id restricted to candidates (whatlang), the
//!   marker-word language share, ALL-CAPS / upper-case share, one-word
//!   match, regex, contains; `Metric::score(&str) -> Option<f64>`.
//! - [`aggregate`]: [`Sample`]s -> per-seed rows, per-model rows with an
//!   interval that treats seeds as clusters of answers ([`Method`]), paired
//!   differences.
//! - [`judge`]: the EM logprob 0..100 aggregation and misalignment rule.

mod aggregate;
pub mod judge;
mod metrics;
pub mod stats;

pub use aggregate::{
    aggregate, aggregate_curve, first_seen, Aggregate, CurveObs, CurvePoint, DiffRow, Ranges,
    ResultRow, Sample, SeedRow, Unit,
};
pub use metrics::{
    detect_language, detect_language_whatlang, marker_share, upper_share, Language, Metric,
    MetricError,
};
pub use stats::{
    clustered, clustered_diff, paired, summarize, t_quantile, Estimate, Method, StatsError, Summary,
};

use std::collections::BTreeMap;

/// Score one response with named metrics.
pub fn score_all(metrics: &[(String, Metric)], response: &str) -> BTreeMap<String, Option<f64>> {
    metrics
        .iter()
        .map(|(name, m)| (name.clone(), m.score(response)))
        .collect()
}

#[cfg(test)]
mod tests;
