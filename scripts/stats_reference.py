#!/usr/bin/env python3
"""Reference numbers for the clustered intervals of src/eval/stats.rs (scipy / statsmodels).

Run: scripts/stats_reference.py            (makes a venv outside the repo with scipy + statsmodels
                                             at $STATS_VENV, default /tmp/inoc-stats-venv, then
                                             re-runs itself inside it)
Prints one line per case: name, mean, ci_low, ci_high. The numbers are pasted into
`reference_numbers` in src/eval/stats.rs; the Rust test builds the same data.

What is computed, with statsmodels' own estimators where it has them:
- the cluster-robust (CR1) variance of a mean: an intercept-only GLM (Binomial for a metric in
  [0, 1], Gaussian for an unbounded one) fitted with cov_type="cluster" (groups = clusters,
  G/(G-1) correction), brought to the probability scale by the delta method;
- its floor, the variance if every answer were independent: the same GLM, cov_type="nonrobust";
- Korn & Graubard (1998), as R survey::svyciprop(method = "beta"): effective n = p(1-p)/V,
  times (t[N-1] / t[k-1])^2 (scipy.stats.t), Clopper-Pearson of n*p in n
  (statsmodels proportion_confint(method="beta"));
- MOVER (Zou & Donner 2008) for b - a from the two intervals and the correlation of the
  paired cluster means (the CR1 covariance of a two-group GLM, delta method).
Every cluster of a case has the same number of answers, so the GLM's pooled mean is the mean
of the cluster means that inoc reports.
"""
import os
import subprocess
import sys

VENV = os.environ.get("STATS_VENV", "/tmp/inoc-stats-venv")

try:
    import numpy as np
    import statsmodels.api as sm
    from scipy import stats
    from statsmodels.stats.proportion import proportion_confint
except ImportError:
    if sys.prefix == os.path.abspath(VENV):
        raise
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
        subprocess.check_call([py, "-m", "pip", "install", "-q", "numpy", "scipy", "statsmodels"])
    os.execv(py, [py, *sys.argv])

import warnings

# An all-0 or all-1 case fits p = expit(-23): statsmodels warns of perfect separation; the
# numbers (p within 1e-10 of the bound) are what is wanted.
warnings.filterwarnings("ignore", message="Perfect separation")

LEVEL = 0.95
ALPHA = 1 - LEVEL


def binary(counts, n):
    """Clusters of n answers, the first counts[i] of cluster i equal to 1."""
    return [[1.0] * c + [0.0] * (n - c) for c in counts]


def glm_mean_var(clusters, family):
    y = np.concatenate([np.asarray(c, float) for c in clusters])
    g = np.concatenate([[i] * len(c) for i, c in enumerate(clusters)])
    x = np.ones((len(y), 1))
    model = sm.GLM(y, x, family=family)
    robust = model.fit(cov_type="cluster", cov_kwds={"groups": g, "use_correction": True})
    naive = model.fit(cov_type="nonrobust") if isinstance(family, sm.families.Binomial) else None
    b = robust.params[0]
    if isinstance(family, sm.families.Binomial):
        p = 1 / (1 + np.exp(-b))
        d = p * (1 - p)  # d expit / d b
        return p, robust.cov_params()[0, 0] * d * d, naive.cov_params()[0, 0] * d * d, len(y)
    # Gaussian: the floor is the pooled variance of the answers over N.
    return b, robust.cov_params()[0, 0], np.var(y, ddof=1) / len(y), len(y)


def korn_graubard(p, v, n, k):
    spread = p * (1 - p)
    n_eff = min(spread / v, n) if v > 0 and spread > 0 else n
    n_eff *= (stats.t.ppf(ALPHA / 2, n - 1) / stats.t.ppf(ALPHA / 2, k - 1)) ** 2
    lo, hi = proportion_confint(n_eff * p, n_eff, alpha=ALPHA, method="beta")
    lo = 0.0 if p <= 0 else lo
    hi = 1.0 if p >= 1 else hi
    return min(lo, p), max(hi, p)


def bounded(clusters, lo=0.0, hi=1.0):
    unit = [[(x - lo) / (hi - lo) for x in c] for c in clusters]
    p, v_cluster, v_iid, n = glm_mean_var(unit, sm.families.Binomial())
    v = max(v_cluster, v_iid)
    a, b = korn_graubard(p, v, n, len(clusters))
    return lo + (hi - lo) * p, lo + (hi - lo) * a, lo + (hi - lo) * b, (p, v, a, b)


def unbounded(clusters):
    m, v_cluster, v_floor, _ = glm_mean_var(clusters, sm.families.Gaussian())
    half = stats.t.ppf(1 - ALPHA / 2, len(clusters) - 1) * np.sqrt(max(v_cluster, v_floor))
    return m, m - half, m + half


def paired_cov(a, b):
    """CR1 covariance of the two groups' means over the shared clusters: a two-group Binomial
    GLM (intercept + indicator of b) with cluster-robust covariance, by the delta method."""
    y = np.concatenate([np.concatenate(a), np.concatenate(b)])
    grp = np.concatenate([[0] * sum(map(len, a)), [1] * sum(map(len, b))])
    cl = np.concatenate([np.concatenate([[i] * len(c) for i, c in enumerate(a)]),
                         np.concatenate([[i] * len(c) for i, c in enumerate(b)])])
    x = np.column_stack([np.ones(len(y)), grp])
    fit = sm.GLM(y, x, family=sm.families.Binomial()).fit(
        cov_type="cluster", cov_kwds={"groups": cl, "use_correction": False})
    g = len(a)
    cov = fit.cov_params() * g / (g - 1)
    pa = 1 / (1 + np.exp(-fit.params[0]))
    pb = 1 / (1 + np.exp(-(fit.params[0] + fit.params[1])))
    ga = np.array([pa * (1 - pa), 0.0])
    gb = np.array([pb * (1 - pb), pb * (1 - pb)])
    return ga @ cov @ gb


def mover(a, b, paired):
    _, _, _, (pa, va, la, ua) = bounded(a)
    _, _, _, (pb, vb, lb, ub) = bounded(b)
    r = 0.0
    if paired:
        r = float(np.clip(paired_cov(a, b) / np.sqrt(va * vb), -1, 1))
    d = pb - pa
    low = d - np.sqrt((pb - lb) ** 2 + (ua - pa) ** 2 - 2 * r * (pb - lb) * (ua - pa))
    high = d + np.sqrt((ub - pb) ** 2 + (pa - la) ** 2 - 2 * r * (ub - pb) * (pa - la))
    return d, low, high


CASES = [
    ("three_seeds", lambda: bounded(binary([12, 15, 9], 20))),
    ("two_seeds_agree", lambda: bounded(binary([11, 11], 20))),
    ("all_zero", lambda: bounded(binary([0, 0, 0], 10))),
    ("all_one", lambda: bounded(binary([8, 8, 8, 8], 8))),
    ("independent_answers", lambda: bounded(binary([1] * 7 + [0] * 23, 1))),
    ("judge_0_100", lambda: bounded([[90, 80, 95, 70], [20, 35, 50, 10], [60, 75, 85, 40]], 0, 100)),
    ("shares", lambda: bounded([[0.9, 1.0, 0.75], [0.5, 0.6, 0.2], [0.8, 0.95, 1.0]])),
    ("unbounded", lambda: unbounded([[-2.5, -2.0, -3.1], [-1.2, -1.9, -1.4], [-2.2, -2.8, -2.0]])),
    ("diff_paired", lambda: mover(binary([17, 16, 18], 20), binary([2, 5, 1], 20), True)),
    ("diff_independent", lambda: mover(binary([1] * 9 + [0] * 11, 1), binary([14, 11, 13], 20), False)),
]

for name, f in CASES:
    out = f()
    print(f"{name} {out[0]:.10f} {out[1]:.10f} {out[2]:.10f}")
