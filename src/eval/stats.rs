//! Means, confidence intervals and paired differences.
//!
//! [`summarize`] / [`paired`]: a t-interval over independent values.
//! [`clustered`] / [`clustered_diff`]: answers grouped in clusters (the
//! seeds of a family, or the prompts of one model): see [`Method`].

use serde::{Deserialize, Serialize};
use statrs::distribution::{Beta, ContinuousCDF, StudentsT};

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

/// Confidence level of a report's intervals when the spec does not say
/// (`bar`'s and `table`'s `ci` default; `curve`, which has no `ci`).
pub const DEFAULT_LEVEL: f64 = 0.95;

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

/// How an interval over clustered answers was computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// A metric with a range `[lo, hi]` (a share, a 0/1 answer, a judge's
    /// 0..100): the Korn–Graubard interval (Korn & Graubard 1998; R
    /// `survey::svyciprop(method = "beta")`). The variance of the mean comes
    /// from the spread of the cluster means (cluster-robust, CR1), but is
    /// never taken below p(1 − p)/N, the variance if all N answers were
    /// independent; it gives an effective sample size n* = p(1 − p)/V,
    /// shrunk by (t[N−1] / t[k−1])² for k clusters, and the Clopper–Pearson
    /// interval of n*·p successes in n* trials, rescaled to the range. It
    /// lies inside the range, is exact for independent binary answers, and
    /// widens with few clusters (t with k − 1 degrees of freedom).
    KornGraubard,
    /// An unbounded metric (a log-prob): the mean of the cluster means
    /// ± t[k−1] · √V, with V as above (the floor: the pooled variance of
    /// the answers over N).
    T,
    /// A difference of two bounded means: MOVER (Newcombe 1998, Zou &
    /// Donner 2008) from the two Korn–Graubard intervals and the
    /// correlation of the paired cluster means (0 when not paired). It lies
    /// inside [−(hi − lo), hi − lo].
    Mover,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::KornGraubard => "korn-graubard",
            Method::T => "t",
            Method::Mover => "mover",
        }
    }
}

/// A mean over clustered answers with its interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Mean of the cluster means (each cluster weighs the same).
    pub mean: f64,
    /// Standard deviation of the cluster means (0 for one cluster).
    pub sd: f64,
    /// Clusters with at least one answer.
    pub clusters: usize,
    /// Answers.
    pub n: usize,
    /// None with fewer than two clusters.
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub method: Method,
}

/// What an interval needs of one group of clusters.
struct Moments {
    means: Vec<f64>,
    /// Mean of the cluster means.
    mean: f64,
    /// Answers.
    n: usize,
    /// CR1 variance of `mean`: the sample variance of the cluster means over k.
    v_between: f64,
    /// Sample variance of all answers (0 for one answer).
    pooled_var: f64,
}

impl Moments {
    fn k(&self) -> usize {
        self.means.len()
    }

    fn sd(&self) -> f64 {
        let k = self.k();
        if k < 2 {
            0.0
        } else {
            (self.v_between * k as f64).sqrt()
        }
    }

    /// Variance of the mean of a bounded (unit-scaled) metric, floored at
    /// p(1 − p)/N.
    fn v_bounded(&self) -> f64 {
        let p = self.mean.clamp(0.0, 1.0);
        self.v_between.max(p * (1.0 - p) / self.n as f64)
    }

    /// Variance of the mean of an unbounded metric, floored at the pooled
    /// variance over N.
    fn v_unbounded(&self) -> f64 {
        self.v_between.max(self.pooled_var / self.n as f64)
    }
}

/// Finite values of the non-empty clusters, mapped by `f`.
fn moments(clusters: &[&[f64]], f: impl Fn(f64) -> f64) -> Option<Moments> {
    let clusters: Vec<Vec<f64>> = clusters
        .iter()
        .map(|c| {
            c.iter()
                .copied()
                .filter(|x| x.is_finite())
                .map(&f)
                .collect()
        })
        .filter(|c: &Vec<f64>| !c.is_empty())
        .collect();
    if clusters.is_empty() {
        return None;
    }
    let means: Vec<f64> = clusters
        .iter()
        .map(|c| c.iter().sum::<f64>() / c.len() as f64)
        .collect();
    let k = means.len() as f64;
    let mean = means.iter().sum::<f64>() / k;
    let v_between = if means.len() < 2 {
        0.0
    } else {
        means.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / (k * (k - 1.0))
    };
    let n: usize = clusters.iter().map(Vec::len).sum();
    let grand = clusters.iter().flatten().sum::<f64>() / n as f64;
    let pooled_var = if n < 2 {
        0.0
    } else {
        clusters
            .iter()
            .flatten()
            .map(|x| (x - grand).powi(2))
            .sum::<f64>()
            / (n - 1) as f64
    };
    Some(Moments {
        means,
        mean,
        n,
        v_between,
        pooled_var,
    })
}

/// The Korn–Graubard interval of a unit-scaled mean `p` with variance `v`
/// over `n` answers in `k` clusters (k >= 2).
fn korn_graubard(p: f64, v: f64, n: usize, k: usize, level: f64) -> (f64, f64) {
    let p = p.clamp(0.0, 1.0);
    let alpha = 1.0 - level;
    let n = n as f64;
    let spread = p * (1.0 - p);
    let mut n_eff = if v > 0.0 && spread > 0.0 {
        (spread / v).min(n)
    } else {
        n
    };
    // Few clusters: fewer effective answers (the t of k - 1 degrees of
    // freedom against that of N - 1).
    n_eff *= (t_quantile(alpha / 2.0, n - 1.0) / t_quantile(alpha / 2.0, k as f64 - 1.0)).powi(2);
    let x = n_eff * p;
    let lo = if x <= 0.0 {
        0.0
    } else {
        Beta::new(x, n_eff - x + 1.0)
            .expect("positive shapes")
            .inverse_cdf(alpha / 2.0)
    };
    let hi = if x >= n_eff {
        1.0
    } else {
        Beta::new(x + 1.0, n_eff - x)
            .expect("positive shapes")
            .inverse_cdf(1.0 - alpha / 2.0)
    };
    (lo.min(p), hi.max(p))
}

/// Mean of clustered answers with a `level` interval: Korn–Graubard when
/// the metric has a `range`, else t (see [`Method`]). None without any
/// finite answer; no interval with fewer than two clusters.
pub fn clustered(
    clusters: &[&[f64]],
    range: Option<(f64, f64)>,
    level: f64,
) -> Result<Option<Estimate>, StatsError> {
    check_level(level)?;
    let (lo, width) = match range {
        Some((lo, hi)) if hi > lo => (lo, hi - lo),
        _ => (0.0, 1.0),
    };
    let bounded = matches!(range, Some((lo, hi)) if hi > lo);
    let Some(m) = moments(clusters, |x| {
        if bounded {
            ((x - lo) / width).clamp(0.0, 1.0)
        } else {
            x
        }
    }) else {
        return Ok(None);
    };
    let k = m.k();
    let (ci_low, ci_high, method) = if bounded {
        let ci = (k >= 2).then(|| korn_graubard(m.mean, m.v_bounded(), m.n, k, level));
        (
            ci.map(|c| lo + width * c.0),
            ci.map(|c| lo + width * c.1),
            Method::KornGraubard,
        )
    } else {
        let half = (k >= 2)
            .then(|| t_quantile(0.5 + level / 2.0, k as f64 - 1.0) * m.v_unbounded().sqrt());
        (
            half.map(|h| m.mean - h),
            half.map(|h| m.mean + h),
            Method::T,
        )
    };
    let scale = if bounded { width } else { 1.0 };
    let shift = if bounded { lo } else { 0.0 };
    Ok(Some(Estimate {
        mean: shift + scale * m.mean,
        sd: scale * m.sd(),
        clusters: k,
        n: m.n,
        ci_low,
        ci_high,
        method,
    }))
}

/// The difference `b − a` of two clustered means. `paired`: `a[i]` and
/// `b[i]` are the same cluster (seed, prompt) of both groups, and a pair
/// missing either side is dropped; else the groups are independent. A
/// bounded metric gets the MOVER interval, an unbounded one the t-interval
/// of the paired cluster differences (independent groups: the two
/// variances added, t with the smaller group's k − 1 degrees of freedom).
pub fn clustered_diff(
    a: &[&[f64]],
    b: &[&[f64]],
    paired: bool,
    range: Option<(f64, f64)>,
    level: f64,
) -> Result<Option<Estimate>, StatsError> {
    check_level(level)?;
    let finite = |c: &[f64]| c.iter().any(|x| x.is_finite());
    let (a, b): (Vec<&[f64]>, Vec<&[f64]>) = if paired {
        a.iter()
            .zip(b)
            .filter(|(x, y)| finite(x) && finite(y))
            .map(|(x, y)| (*x, *y))
            .unzip()
    } else {
        (a.to_vec(), b.to_vec())
    };
    let bounded = matches!(range, Some((lo, hi)) if hi > lo);
    let (lo, width) = match range {
        Some((lo, hi)) if bounded => (lo, hi - lo),
        _ => (0.0, 1.0),
    };
    let unit = |x: f64| {
        if bounded {
            ((x - lo) / width).clamp(0.0, 1.0)
        } else {
            x
        }
    };
    let (Some(ma), Some(mb)) = (moments(&a, unit), moments(&b, unit)) else {
        return Ok(None);
    };
    let d = mb.mean - ma.mean;
    let (ka, kb) = (ma.k(), mb.k());
    let cov = if paired && ka >= 2 {
        let k = ka as f64;
        ma.means
            .iter()
            .zip(&mb.means)
            .map(|(x, y)| (x - ma.mean) * (y - mb.mean))
            .sum::<f64>()
            / (k * (k - 1.0))
    } else {
        0.0
    };
    let sd = if paired && ka >= 2 {
        let diffs: Vec<f64> = ma.means.iter().zip(&mb.means).map(|(x, y)| y - x).collect();
        let k = diffs.len() as f64;
        (diffs.iter().map(|x| (x - d).powi(2)).sum::<f64>() / (k - 1.0)).sqrt()
    } else {
        0.0
    };
    let enough = ka >= 2 && kb >= 2;
    let (ci, method) = if bounded {
        let ci = enough.then(|| {
            let (va, vb) = (ma.v_bounded(), mb.v_bounded());
            let (la, ua) = korn_graubard(ma.mean, va, ma.n, ka, level);
            let (lb, ub) = korn_graubard(mb.mean, vb, mb.n, kb, level);
            let r = if va > 0.0 && vb > 0.0 {
                (cov / (va * vb).sqrt()).clamp(-1.0, 1.0)
            } else {
                0.0
            };
            let (pa, pb) = (ma.mean, mb.mean);
            let low = d
                - ((pb - lb).powi(2) + (ua - pa).powi(2) - 2.0 * r * (pb - lb) * (ua - pa))
                    .max(0.0)
                    .sqrt();
            let high = d
                + ((ub - pb).powi(2) + (pa - la).powi(2) - 2.0 * r * (ub - pb) * (pa - la))
                    .max(0.0)
                    .sqrt();
            (low.max(-1.0), high.min(1.0))
        });
        (ci, Method::Mover)
    } else {
        let ci = enough.then(|| {
            let (v, df) = if paired {
                ((sd * sd / ka as f64).max(0.0), ka as f64 - 1.0)
            } else {
                (ma.v_unbounded() + mb.v_unbounded(), (ka.min(kb) - 1) as f64)
            };
            let half = t_quantile(0.5 + level / 2.0, df) * v.sqrt();
            (d - half, d + half)
        });
        (ci, Method::T)
    };
    let scale = if bounded { width } else { 1.0 };
    Ok(Some(Estimate {
        mean: scale * d,
        sd: scale * sd,
        clusters: if paired { ka } else { ka.min(kb) },
        n: ma.n + mb.n,
        ci_low: ci.map(|c| scale * c.0),
        ci_high: ci.map(|c| scale * c.1),
        method,
    }))
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

    fn binary(counts: &[usize], n: usize) -> Vec<Vec<f64>> {
        counts
            .iter()
            .map(|&c| (0..n).map(|i| if i < c { 1.0 } else { 0.0 }).collect())
            .collect()
    }

    fn refs(c: &[Vec<f64>]) -> Vec<&[f64]> {
        c.iter().map(Vec::as_slice).collect()
    }

    /// Numbers printed by scripts/stats_reference.py (statsmodels 0.15.0,
    /// scipy 1.17.1): name, mean, ci_low, ci_high.
    const REFERENCE: &[(&str, f64, f64, f64)] = &[
        ("three_seeds", 0.6000000000, 0.2016732857, 0.9165577924),
        ("two_seeds_agree", 0.5500000000, 0.0008630906, 0.9998200815),
        ("all_zero", 0.0000000001, 0.0000000000, 0.4196964155),
        ("all_one", 0.9999999999, 0.7552689867, 1.0000000000),
        (
            "independent_answers",
            0.2333333333,
            0.0974821729,
            0.4266079453,
        ),
        ("judge_0_100", 59.1666666666, 4.2070529451, 99.0036909678),
        ("shares", 0.7444444444, 0.0768876606, 0.9994589524),
        ("unbounded", -2.1222222222, -3.4836801116, -0.7607643328),
        ("diff_paired", -0.7166666667, -0.9518907409, -0.0525900563),
        (
            "diff_independent",
            0.1833333333,
            -0.2029066535,
            0.5120489775,
        ),
    ];

    #[test]
    fn clustered_intervals_match_the_statsmodels_reference() {
        let unit = Some((0.0, 1.0));
        let ones = |k: usize, n: usize| -> Vec<Vec<f64>> {
            (0..n)
                .map(|i| vec![if i < k { 1.0 } else { 0.0 }])
                .collect()
        };
        let three = binary(&[12, 15, 9], 20);
        let two = binary(&[11, 11], 20);
        let zero = binary(&[0, 0, 0], 10);
        let one = binary(&[8, 8, 8, 8], 8);
        let single = ones(7, 30);
        let judge = vec![
            vec![90.0, 80.0, 95.0, 70.0],
            vec![20.0, 35.0, 50.0, 10.0],
            vec![60.0, 75.0, 85.0, 40.0],
        ];
        let shares = vec![
            vec![0.9, 1.0, 0.75],
            vec![0.5, 0.6, 0.2],
            vec![0.8, 0.95, 1.0],
        ];
        let logprobs = vec![
            vec![-2.5, -2.0, -3.1],
            vec![-1.2, -1.9, -1.4],
            vec![-2.2, -2.8, -2.0],
        ];
        let (pa, pb) = (binary(&[17, 16, 18], 20), binary(&[2, 5, 1], 20));
        let (fixed, family) = (ones(9, 20), binary(&[14, 11, 13], 20));
        let got = |name: &str| -> Estimate {
            match name {
                "three_seeds" => clustered(&refs(&three), unit, 0.95),
                "two_seeds_agree" => clustered(&refs(&two), unit, 0.95),
                "all_zero" => clustered(&refs(&zero), unit, 0.95),
                "all_one" => clustered(&refs(&one), unit, 0.95),
                "independent_answers" => clustered(&refs(&single), unit, 0.95),
                "judge_0_100" => clustered(&refs(&judge), Some((0.0, 100.0)), 0.95),
                "shares" => clustered(&refs(&shares), unit, 0.95),
                "unbounded" => clustered(&refs(&logprobs), None, 0.95),
                "diff_paired" => clustered_diff(&refs(&pa), &refs(&pb), true, unit, 0.95),
                "diff_independent" => {
                    clustered_diff(&refs(&fixed), &refs(&family), false, unit, 0.95)
                }
                other => panic!("{other}"),
            }
            .unwrap()
            .unwrap()
        };
        for &(name, mean, lo, hi) in REFERENCE {
            let e = got(name);
            let scale = if name == "judge_0_100" { 100.0 } else { 1.0 };
            let tol = 2e-6 * scale;
            assert!(
                close(e.mean, mean, tol),
                "{name}: mean {} vs {mean}",
                e.mean
            );
            let (l, h) = (e.ci_low.unwrap(), e.ci_high.unwrap());
            assert!(close(l, lo, tol), "{name}: low {l} vs {lo}");
            assert!(close(h, hi, tol), "{name}: high {h} vs {hi}");
        }
    }

    #[test]
    fn clustered_edge_cases() {
        // One cluster: a mean, no interval; nothing finite: nothing.
        let one = clustered(&[&[1.0, 0.0, 1.0][..]], Some((0.0, 1.0)), 0.95)
            .unwrap()
            .unwrap();
        assert_eq!((one.clusters, one.n, one.ci_low), (1, 3, None));
        assert_eq!(clustered(&[&[f64::NAN][..]], None, 0.95).unwrap(), None);
        assert!(clustered(&[&[1.0][..]], None, 1.5).is_err());
        // Seeds that agree still get the width of their answers' noise.
        let e = clustered(&refs(&binary(&[10, 10, 10], 20)), Some((0.0, 1.0)), 0.95)
            .unwrap()
            .unwrap();
        assert!(e.ci_high.unwrap() - e.ci_low.unwrap() > 0.2, "{e:?}");
        assert_eq!(e.method, Method::KornGraubard);
        // A paired difference whose seeds move together is narrower than
        // the same numbers unpaired.
        let a = binary(&[4, 10, 16], 20);
        let b = binary(&[2, 8, 14], 20);
        let p = clustered_diff(&refs(&a), &refs(&b), true, Some((0.0, 1.0)), 0.95)
            .unwrap()
            .unwrap();
        let u = clustered_diff(&refs(&a), &refs(&b), false, Some((0.0, 1.0)), 0.95)
            .unwrap()
            .unwrap();
        assert!(close(p.mean, -0.1, 1e-12) && close(u.mean, -0.1, 1e-12));
        let width = |e: &Estimate| e.ci_high.unwrap() - e.ci_low.unwrap();
        assert!(width(&p) < width(&u), "{p:?} {u:?}");
    }

    #[test]
    fn bounded_intervals_stay_in_range() {
        // Extreme and tiny inputs: every interval inside its range.
        let cases: Vec<Vec<Vec<f64>>> = vec![
            binary(&[0, 20], 20),
            binary(&[1, 0], 2),
            binary(&[20, 19], 20),
            vec![vec![1.0], vec![0.0]],
            vec![vec![0.0, 0.0], vec![1.0, 1.0], vec![0.5]],
        ];
        for c in &cases {
            let e = clustered(&refs(c), Some((0.0, 1.0)), 0.95)
                .unwrap()
                .unwrap();
            let (l, h) = (e.ci_low.unwrap(), e.ci_high.unwrap());
            assert!(
                (0.0..=e.mean).contains(&l) && (e.mean..=1.0).contains(&h),
                "{c:?}: {e:?}"
            );
            for d in &cases {
                for paired in [true, false] {
                    let Some(e) =
                        clustered_diff(&refs(c), &refs(d), paired, Some((0.0, 1.0)), 0.95).unwrap()
                    else {
                        continue;
                    };
                    if let (Some(l), Some(h)) = (e.ci_low, e.ci_high) {
                        assert!(
                            -1.0 <= l && l <= e.mean + 1e-12 && e.mean <= h + 1e-12 && h <= 1.0,
                            "{e:?}"
                        );
                    }
                }
            }
        }
    }
}
