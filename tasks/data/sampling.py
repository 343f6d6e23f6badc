"""Sampling inputs from a range under a named distribution (pure numpy)."""

from __future__ import annotations

import numpy as np

from tasks.core.ranges import Ranges

DISTRIBUTIONS = ("uniform", "log_uniform")


def check_distribution(distribution: str, ranges: Ranges) -> str | None:
    """Why `distribution` cannot sample `ranges`, or None when it can."""
    if distribution not in DISTRIBUTIONS:
        return f"unknown distribution '{distribution}' (choose from {', '.join(DISTRIBUTIONS)})"
    if distribution == "log_uniform" and ranges.lo <= 0:
        return f"log_uniform needs a strictly positive range, got {ranges.label()}"
    return None


def sample(rng: np.random.Generator, distribution: str, ranges: Ranges, n: int, dtype: type = np.float64) -> np.ndarray:
    """n draws of `dtype` from `distribution` over the union `ranges`.

    Intervals of a union are picked in proportion to their measure under the distribution
    (length for uniform, log-length for log_uniform), so the union is sampled as one set.
    """
    problem = check_distribution(distribution, ranges)
    if problem:
        raise ValueError(problem)
    if distribution == "uniform" and len(ranges.intervals) == 1:  # the common case, drawn directly in dtype
        lo, hi = ranges.intervals[0]
        u = rng.random(n, dtype=dtype)
        u *= dtype(hi - lo)
        u += dtype(lo)
        return u
    ivs = np.asarray(ranges.intervals, dtype=np.float64)
    if distribution == "log_uniform":
        ivs = np.log(ivs)
    widths = ivs[:, 1] - ivs[:, 0]
    which = rng.choice(len(ivs), size=n, p=widths / widths.sum()) if len(ivs) > 1 else np.zeros(n, dtype=np.int64)
    x = ivs[which, 0] + rng.random(n) * widths[which]
    return (np.exp(x) if distribution == "log_uniform" else x).astype(dtype, copy=False)


def quantile(u: np.ndarray, distribution: str, ranges: Ranges) -> np.ndarray:
    """`distribution`'s inverse CDF over the union `ranges` at u ∈ [0, 1] (float64): one
    uniform draw mapped onto any range, so inputs on several ranges are drawn from the same
    numbers (the extrapolation horizon's test sets at arbitrary widening scales)."""
    problem = check_distribution(distribution, ranges)
    if problem:
        raise ValueError(problem)
    ivs = np.asarray(ranges.intervals, dtype=np.float64)
    if distribution == "log_uniform":
        ivs = np.log(ivs)
    cumulative = np.concatenate([[0.0], np.cumsum(ivs[:, 1] - ivs[:, 0])])
    t = np.asarray(u, np.float64) * cumulative[-1]
    which = np.clip(np.searchsorted(cumulative, t, side="right") - 1, 0, len(ivs) - 1)
    x = ivs[which, 0] + (t - cumulative[which])
    x = np.minimum(x, ivs[which, 1])  # float round-off never leaves the interval
    return np.exp(x) if distribution == "log_uniform" else x
