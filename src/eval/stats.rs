//! Means, t-distribution confidence intervals and paired differences.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Errors of the statistics functions.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    #[error("confidence level {0} must be strictly between 0 and 1")]
    BadLevel(f64),
}

/// Mean of `n` values with a two-sided t confidence interval (none when
/// n < 2) and the sample standard deviation (n - 1 denominator; 0 for n = 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub mean: f64,
    pub sd: f64,
    pub n: usize,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
}

/// The `p` quantile of Student's t with `df` degrees of freedom
/// (`t_quantile(0.975, 2.0)` = 4.302653).
pub fn t_quantile(p: f64, df: f64) -> f64 {
    assert!(
        df > 0.0 && (0.0..=1.0).contains(&p),
        "t_quantile({p}, {df})"
    );
    StudentsT::new(0.0, 1.0, df)
        .expect("df > 0 and unit scale are valid")
        .inverse_cdf(p)
}

pub(crate) fn check_level(level: f64) -> Result<(), StatsError> {
    if level > 0.0 && level < 1.0 {
        Ok(())
    } else {
        Err(StatsError::BadLevel(level))
    }
}

/// Mean and `level` (e.g. 0.95) t-interval of the finite values; None when
/// there are none. Non-finite values are ignored.
pub fn summarize(values: &[f64], level: f64) -> Result<Option<Summary>, StatsError> {
    check_level(level)?;
    let xs: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    let n = xs.len();
    if n == 0 {
        return Ok(None);
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return Ok(Some(Summary {
            mean,
            sd: 0.0,
            n,
            ci_low: None,
            ci_high: None,
        }));
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let sd = var.sqrt();
    let half = t_quantile(0.5 + level / 2.0, (n - 1) as f64) * sd / (n as f64).sqrt();
    Ok(Some(Summary {
        mean,
        sd,
        n,
        ci_low: Some(mean - half),
        ci_high: Some(mean + half),
    }))
}

/// Paired differences `b - a` over the keys present in both (each key at
/// most once per side; later duplicates are ignored), summarised with
/// [`summarize`].
pub fn paired<K: Ord + Clone>(
    a: &[(K, f64)],
    b: &[(K, f64)],
    level: f64,
) -> Result<Option<Summary>, StatsError> {
    let mut left = std::collections::BTreeMap::new();
    for (k, v) in a {
        left.entry(k.clone()).or_insert(*v);
    }
    let mut seen = std::collections::BTreeSet::new();
    let diffs: Vec<f64> = b
        .iter()
        .filter(|(k, _)| seen.insert(k.clone()))
        .filter_map(|(k, v)| left.get(k).map(|x| v - x))
        .collect();
    summarize(&diffs, level)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() < tol
    }

    #[test]
    fn t_quantiles_match_tables() {
        // R: qt(c(.975, .975, .975, .95, .995), c(1, 2, 9, 4, 29))
        assert!(close(t_quantile(0.975, 1.0), 12.706205, 1e-5));
        assert!(close(t_quantile(0.975, 2.0), 4.302653, 1e-6));
        assert!(close(t_quantile(0.975, 9.0), 2.262157, 1e-6));
        assert!(close(t_quantile(0.95, 4.0), 2.131847, 1e-6));
        assert!(close(t_quantile(0.995, 29.0), 2.756386, 1e-6));
        assert!(close(t_quantile(0.025, 9.0), -2.262157, 1e-6));
        assert!(close(t_quantile(0.975, 100.0), 1.983972, 1e-6));
    }

    #[test]
    fn summary_of_three_seeds() {
        // mean 0.5, sd 0.1, half-width 4.302653 * 0.1 / sqrt(3)
        let s = summarize(&[0.4, 0.5, 0.6], 0.95).unwrap().unwrap();
        assert!(close(s.mean, 0.5, 1e-12));
        assert!(close(s.sd, 0.1, 1e-12));
        assert_eq!(s.n, 3);
        let half = 4.302653 * 0.1 / 3f64.sqrt();
        assert!(close(s.ci_low.unwrap(), 0.5 - half, 1e-6));
        assert!(close(s.ci_high.unwrap(), 0.5 + half, 1e-6));
    }

    #[test]
    fn summary_edge_cases() {
        assert_eq!(summarize(&[], 0.95).unwrap(), None);
        assert_eq!(summarize(&[f64::NAN], 0.95).unwrap(), None);
        let one = summarize(&[0.7], 0.95).unwrap().unwrap();
        assert_eq!((one.mean, one.n, one.ci_low), (0.7, 1, None));
        let same = summarize(&[1.0, 1.0, 1.0], 0.95).unwrap().unwrap();
        assert_eq!((same.ci_low, same.ci_high), (Some(1.0), Some(1.0)));
        assert!(summarize(&[1.0], 1.0).is_err());
        assert!(summarize(&[1.0], 0.0).is_err());
    }

    #[test]
    fn paired_matches_keys() {
        let a = [(0, 0.1), (1, 0.2), (2, 0.3), (3, 9.0)];
        let b = [(2, 0.5), (0, 0.4), (1, 0.4), (7, 1.0)];
        // diffs 0.2, 0.3, 0.2 (key 3 and 7 unmatched)
        let s = paired(&a, &b, 0.95).unwrap().unwrap();
        assert_eq!(s.n, 3);
        assert!(close(s.mean, 0.7 / 3.0, 1e-12));
        // An unpaired test would see a much wider interval.
        let sd = (((0.2f64 - 0.7 / 3.0).powi(2) * 2.0 + (0.3f64 - 0.7 / 3.0).powi(2)) / 2.0).sqrt();
        let half = 4.302653 * sd / 3f64.sqrt();
        assert!(close(s.ci_high.unwrap() - s.mean, half, 1e-6));
    }
}
