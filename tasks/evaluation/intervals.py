"""The papers' summary of a group of seeds, ported from stable-nalu's export/_compute_summary.r
at commit f371c1ec (24 Sep 2019, the commit that also holds the paper's per-seed results
paper/results/sft-last.csv and its summary sft-short.csv, which this port reproduces: tests/
test_paper_summary.py). The NALM benchmark of Mistry et al. sources the same file and adds the
largest "solved at" step (summary "primer2022").

    success rate   k/n with the Wilson score interval (binom::binom.confint, method "wilson")
    solved at      over the successful seeds: the median; and μ of a gamma in (mean μ,
                   variance σ²) fitted by bbmle::mle2, with its profile-likelihood interval
    sparsity error over the successful seeds: μ of Beta(2μv, (1 − 2μ)v) fitted by mle2 to the
                   errors, with its profile-likelihood interval

Read the parametrisation as the paper's code writes it: the beta is fitted to the errors x
themselves, so its mean is 2μ and the reported μ is about half the mean error. Where a fit
cannot run (fewer than two values, no spread) or its Hessian has no usable standard error
(the beta), the mean with a t-interval instead, clamped to the parameter's range — that is
f371c1ec's fallback; at the earlier 28480086 it gave the mean with no interval. The fits
reproduce R's numbers, optimiser stops included (tasks/evaluation/mle2.py): the gamma's μ is
often not the sample mean, at which a converged fit would land.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import stats

from tasks.evaluation.mle2 import Fit, Problem, confint, mle2
from tasks.evaluation.r_numerics import RError, dbeta_log, dgamma_log, r_sum

Z95 = 1.9599639845400536  # R's qnorm(0.975) to the last bit (scipy's ndtri is one ulp above)
LOG_DENSITY_CAP = 1e6  # the paper clamps each log density to ±1e6 in the beta's likelihood
Stat = tuple[float, float, float]  # (estimate, low, high); NaN where none


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval, binom.confint's arithmetic; the ends at 0 and n exactly 0
    and 1 (R's formula leaves them a rounding error off for some n)."""
    if trials == 0:
        return float("nan"), float("nan")
    p, z2 = successes / trials, z * z
    p1 = p + 0.5 * z2 / trials
    p2 = z * math.sqrt((p * (1 - p) + 0.25 * z2 / trials) / trials)
    p3 = 1 + z2 / trials
    lo = 0.0 if successes == 0 else (p1 - p2) / p3
    hi = 1.0 if successes == trials else (p1 + p2) / p3
    return lo, hi


def normal_stat(x: np.ndarray, lower: float = -math.inf, upper: float = math.inf) -> Stat:
    """compute.normal.stat: the mean with a t-interval clamped to [lower, upper]."""
    x = np.asarray(x, np.float64)
    mean = float(np.mean(x)) if len(x) else math.nan
    if len(x) < 2:
        return mean, math.nan, math.nan
    half = abs(float(stats.t.ppf(0.025, len(x) - 1))) * float(np.std(x, ddof=1)) / math.sqrt(len(x))
    return mean, min(upper, max(lower, mean - half)), min(upper, max(lower, mean + half))


def _refit_until_profile_settles(problem: Problem, fit: Fit, usable: Callable[[Fit], bool]) -> Stat | None:
    """confint(fit, 'mu'), refitting from each better point the profile finds, as the paper's
    while loop does; None where `usable` rejects a fit (the caller falls back)."""
    while True:
        if not usable(fit):
            return None
        ci = confint(problem, fit, 0)
        if not isinstance(ci, Fit):
            return float(fit.coef[0]), ci[0], ci[1]
        fit = mle2(problem, ci.coef)


def gamma_stat(values: np.ndarray) -> Stat:
    """compute.gamma.stat (f371c1ec): μ of a gamma(mean μ, variance σ²) fitted by mle2 from
    (mean, var), bounds μ ≥ 0, σ² ≥ 1e-5, and its profile interval; else the t-interval."""
    x = np.asarray(values, np.float64)
    if len(x) < 2 or np.std(x, ddof=1) <= 1e-5:
        return normal_stat(x, 0.0, math.inf)

    def nll(p: np.ndarray) -> float:
        mu, var = p
        return -r_sum(dgamma_log(x, mu * mu / var, mu / var))

    problem = Problem(nll, np.array([0.0, 1e-5]), np.array([np.inf, np.inf]))
    try:
        fit = mle2(problem, np.array([np.mean(x), np.var(x, ddof=1)]))
        out = _refit_until_profile_settles(problem, fit, lambda f: True)
    except RError:  # where R would stop with an error (e.g. a step of 0): the t-interval
        return normal_stat(x, 0.0, math.inf)
    return out if out is not None else normal_stat(x, 0.0, math.inf)


def beta_stat(values: np.ndarray) -> Stat:
    """compute.beta.stat (f371c1ec): the errors clamped into (0, ½), μ of Beta(2μv, (1 − 2μ)v)
    fitted by mle2 from (mean, mean·(½ − mean)/var − 1), bounds μ ∈ [0, ½], v ≥ 1e-5, each log
    density clamped to ±1e6, and its profile interval; the t-interval (clamped to [0, ½]) where
    a fit's Hessian gives no standard error."""
    x = np.clip(np.asarray(values, np.float64), 1e-16, 0.5 - 1e-16)
    fallback = normal_stat(x, 0.0, 0.5)
    if len(x) < 2 or np.std(x, ddof=1) <= 1e-10:
        return fallback
    mean = float(np.mean(x))

    def nll(p: np.ndarray) -> float:
        mu, v = p
        log_density = dbeta_log(x, 2 * mu * v, (1 - 2 * mu) * v)
        return -r_sum(np.clip(log_density, -LOG_DENSITY_CAP, LOG_DENSITY_CAP))

    def has_std_err(fit: Fit) -> bool:  # the paper's test: some parameter with neither estimate
        return not (np.isnan(fit.std_err) & np.isnan(fit.hessian_std_err)).any()

    problem = Problem(nll, np.array([0.0, 1e-5]), np.array([0.5, np.inf]))
    try:
        fit = mle2(problem, np.array([mean, mean * (0.5 - mean) / np.var(x, ddof=1) - 1]))
        out = _refit_until_profile_settles(problem, fit, has_std_err)
    except RError:
        return fallback
    return out if out is not None else fallback


def _max(values: np.ndarray) -> float:
    return float(np.max(values)) if len(values) else math.nan


SummaryColumns = dict[str, float]


def iclr2020_summary(success: np.ndarray, solved_at: np.ndarray, sparsity: np.ndarray) -> SummaryColumns:
    """compute.summary of stable-nalu (f371c1ec) over one group's seeds: `success` per seed,
    `solved_at` and `sparsity` over the successful seeds (NaN dropped)."""
    k, n = int(np.sum(success)), len(success)
    lo, hi = wilson_interval(k, n)
    solved = np.asarray(solved_at, np.float64)
    solved = solved[~np.isnan(solved)]
    sparse = np.asarray(sparsity, np.float64)
    sparse = sparse[~np.isnan(sparse)]
    solved_stat = gamma_stat(solved) if len(solved) else (math.nan,) * 3
    sparse_stat = beta_stat(sparse) if len(sparse) else (math.nan,) * 3
    return {
        "success_rate": k / n if n else math.nan,
        "ci_low": lo,
        "ci_high": hi,
        "solved_at_median": float(np.median(solved)) if len(solved) else math.nan,
        "solved_at_mean": solved_stat[0],
        "solved_at_low": solved_stat[1],
        "solved_at_high": solved_stat[2],
        "sparsity_error_mean": sparse_stat[0],
        "sparsity_error_low": sparse_stat[1],
        "sparsity_error_high": sparse_stat[2],
    }


def primer2022_summary(success: np.ndarray, solved_at: np.ndarray, sparsity: np.ndarray) -> SummaryColumns:
    """The NALM benchmark's compute.summary (bmistry4/nalm-benchmark export/_compute_summary.r):
    stable-nalu's, plus the largest "solved at" step."""
    solved = np.asarray(solved_at, np.float64)
    return iclr2020_summary(success, solved_at, sparsity) | {"solved_at_max": _max(solved[~np.isnan(solved)])}


SUMMARIES: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], SummaryColumns]] = {
    "iclr2020": iclr2020_summary,
    "primer2022": primer2022_summary,
}

BOOTSTRAP_SAMPLES = 2000


def median_ci(values: np.ndarray, seed: int = 0) -> Stat:
    """Median with a 95% percentile-bootstrap interval (deterministic: fixed generator)."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if not len(v):
        return math.nan, math.nan, math.nan
    if len(v) == 1:
        return float(v[0]), float(v[0]), float(v[0])
    rng = np.random.default_rng(seed)
    medians = bootstrap_medians(v, rng.integers(0, len(v), (BOOTSTRAP_SAMPLES, len(v))))
    lo, hi = np.quantile(medians, [0.025, 0.975])
    return float(np.median(v)), float(lo), float(hi)


def bootstrap_medians(v: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """`np.median(v[picks], axis=1)`, bit for bit, without gathering and partitioning every
    resample: each row's middle order statistics are found by counting its picks per rank of
    the sorted values, a block of rows at a time (a reduce of 33,340 models spent 14 of its
    17 s in the gathered medians; this counts them about 5× faster in bounded memory)."""
    n_rows, n = picks.shape
    order = np.argsort(v, kind="stable")
    ranks = np.empty(len(v), np.int64)
    ranks[order] = np.arange(len(v))
    sorted_v = v[order]
    out = np.empty(n_rows, np.float64)
    block = max(1, (1 << 22) // max(1, len(v)))  # rows per block: about 4M counts (32 MB) at a time
    for first in range(0, n_rows, block):
        rows = ranks[picks[first : first + block]]
        offsets = (np.arange(len(rows), dtype=np.int64) * len(v))[:, None]
        counts = np.bincount((rows + offsets).ravel(), minlength=len(rows) * len(v)).reshape(len(rows), len(v))
        below = np.cumsum(counts, axis=1)  # picks at or below each rank
        upper = sorted_v[(below <= n // 2).sum(axis=1)]  # the (n // 2)-th order statistic, from 0
        if n % 2:
            out[first : first + len(rows)] = upper
        else:  # as np.median: the mean of the two middle values
            lower = sorted_v[(below <= n // 2 - 1).sum(axis=1)]
            out[first : first + len(rows)] = np.mean(np.stack([lower, upper], axis=1), axis=1)
    return out
