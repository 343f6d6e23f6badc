"""95% intervals as the neural-arithmetic papers compute them (Madsen & Johansen's
export/_compute_summary.r, reused by Mistry et al.):

    success rate   Wilson score interval over seeds
    solved at      mean of a gamma distribution fitted by maximum likelihood to the successful
                   seeds' steps, with a profile-likelihood interval
    sparsity error mean of the successful seeds' errors, with the profile-likelihood interval of
                   a beta distribution fitted on (0, ½)

Both fits fall back to a t-interval when there are fewer than two values or no spread, as
the papers' code does. Pure numpy (log-gamma from the standard library).
"""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959964
CHI2_95 = 3.841459  # 95% quantile of χ² with one degree of freedom: the profile's cut-off
T95 = {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776, 6: 2.571, 7: 2.447, 8: 2.365, 9: 2.306, 10: 2.262}


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval for a binomial proportion."""
    if trials == 0:
        return float("nan"), float("nan")
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z / denom * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    lo = 0.0 if successes == 0 else max(0.0, centre - half)  # exact ends, free of round-off
    hi = 1.0 if successes == trials else min(1.0, centre + half)
    return lo, hi


def t_interval(values: np.ndarray) -> tuple[float, float, float]:
    v = np.asarray(values, np.float64)
    mean = float(np.mean(v)) if len(v) else float("nan")
    if len(v) < 2:
        return mean, float("nan"), float("nan")
    half = T95.get(len(v), Z95) * float(np.std(v, ddof=1)) / math.sqrt(len(v))
    return mean, mean - half, mean + half


def _golden(f, lo: float, hi: float, iterations: int = 90) -> tuple[float, float]:
    """(argmax, max) of a unimodal f on [lo, hi] by golden-section search."""
    g = (math.sqrt(5) - 1) / 2
    a, b = lo, hi
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(iterations):
        if fc < fd:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(d)
        else:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(c)
    return (c, fc) if fc >= fd else (d, fd)


def _profile_interval(loglik, mean: float, lo: float, hi: float) -> tuple[float, float]:
    """The means whose profile log-likelihood is within χ²/2 of the maximum (a grid search)."""
    grid = np.linspace(lo, hi, 400)
    profile = np.array([loglik(m) for m in grid])
    inside = grid[profile >= loglik(mean) - CHI2_95 / 2]
    return (float(inside.min()), float(inside.max())) if len(inside) else (float("nan"), float("nan"))


def gamma_mean_interval(values: np.ndarray) -> tuple[float, float, float]:
    """(mean, low, high): gamma fitted by maximum likelihood, profile-likelihood interval of its mean."""
    x = np.asarray(values, np.float64)
    x = x[np.isfinite(x) & (x > 0)]
    if len(x) < 2 or np.std(x) <= 1e-5 * max(1.0, float(np.mean(x))):
        return t_interval(x)
    n, s, slog = len(x), float(np.sum(x)), float(np.sum(np.log(x)))

    def loglik(mu: float) -> float:  # shape k, scale mu / k, maximised over k
        def given_k(logk: float) -> float:
            k = math.exp(logk)
            return n * (k * math.log(k / mu) - math.lgamma(k)) + (k - 1) * slog - k * s / mu

        return _golden(given_k, -8.0, 12.0)[1]  # over log k

    mean = float(np.mean(x))  # the gamma's maximum-likelihood mean is the sample mean
    spread = 6 * float(np.std(x)) / math.sqrt(n) + 1e-12
    return (mean, *_profile_interval(loglik, mean, max(mean - spread, mean * 1e-3), mean + spread))


def beta_mean_interval(values: np.ndarray) -> tuple[float, float, float]:
    """(mean, low, high) of values in (0, ½): the mean over the values, and the
    profile-likelihood interval of the mean of a beta fitted to 2x by maximum likelihood. A
    beta has no mass at 0: where a value is exactly 0 (a clamped weight reaches 0 exactly in
    float32) or there is no spread, the t-interval instead."""
    x = np.asarray(values, np.float64)
    x = x[np.isfinite(x)]
    y = 2 * x
    if len(y) < 2 or np.std(y) <= 1e-12 or y.min() <= 0 or y.max() >= 1:
        return t_interval(x)
    n, s1, s2 = len(y), float(np.sum(np.log(y))), float(np.sum(np.log1p(-y)))

    def loglik_y(m: float) -> float:  # mean m of y, precision v (α = m·v, β = (1 − m)·v)
        def given_v(logv: float) -> float:
            v = math.exp(logv)
            a, b = m * v, (1 - m) * v
            return n * (math.lgamma(v) - math.lgamma(a) - math.lgamma(b)) + (a - 1) * s1 + (b - 1) * s2

        return _golden(given_v, -5.0, 30.0)[1]  # over log v

    best = math.exp(_golden(lambda logm: loglik_y(math.exp(logm)), math.log(1e-9), math.log(1 - 1e-9))[0])
    spread = 6 * float(np.std(y)) / math.sqrt(n)  # the profile is searched where the mean can be
    lo, hi = _profile_interval(loglik_y, best, max(best - spread, best * 1e-3), min(1 - 1e-12, best + spread))
    return float(np.mean(x)), lo / 2, hi / 2


BOOTSTRAP_SAMPLES = 2000


def median_ci(values: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """Median with a 95% percentile-bootstrap interval (deterministic: fixed generator)."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if not len(v):
        return math.nan, math.nan, math.nan
    if len(v) == 1:
        return float(v[0]), float(v[0]), float(v[0])
    rng = np.random.default_rng(seed)
    medians = np.median(v[rng.integers(0, len(v), (BOOTSTRAP_SAMPLES, len(v)))], axis=1)
    lo, hi = np.quantile(medians, [0.025, 0.975])
    return float(np.median(v)), float(lo), float(hi)
