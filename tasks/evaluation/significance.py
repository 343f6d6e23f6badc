"""Verdicts that can fail: two-sample tests, their power, and the multiple-comparison step.

Every label the lab prints when it sets two sets of seeds side by side (this run against a
paper, tonight against last night, study B against study A) comes from here:

    consistent    the test does not reject, and it had the power to see a difference that matters
    differs       the test rejects at level α (with its direction and p-value)
    underpowered  the test does not reject, but would miss a difference that matters more often
                  than 1 − POWER of the time: the data cannot decide

Success rates (k of n seeds) are compared with Fisher's exact test, two-sided (the p-value sums
the hypergeometric probabilities of every table no more likely than the observed one), and its
power against a difference of `delta` (20 points by default) is computed exactly by
enumerating both binomials. Pure numpy; scipy supplies the distributions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05
POWER = 0.8  # a test that would see the difference less often than this is underpowered
DELTA = 0.2  # the difference in success rate that matters (20 points)
MAX_SEEDS = 1000  # the search for "seeds needed" stops here


@dataclass(frozen=True)
class Verdict:
    label: str  # consistent | differs | underpowered
    p_value: float
    direction: str = ""  # for differs: "higher" or "lower" (the first sample against the second)
    power: float = float("nan")  # of this comparison against a difference of `delta`
    seeds_needed: int | None = None  # first-sample seeds at which that power reaches POWER (None: > MAX_SEEDS)

    def describe(self) -> str:
        if self.label == "differs":
            return f"differs ({self.direction}, p = {self.p_value:.2g})"
        if self.label == "underpowered":
            need = f"{self.seeds_needed} seeds" if self.seeds_needed else f"over {MAX_SEEDS} seeds"
            return f"underpowered (p = {self.p_value:.2g}; power {self.power:.0%}, a 20-point difference needs {need})"
        return f"consistent (p = {self.p_value:.2g})"


@functools.lru_cache(maxsize=256)
def _fisher_p_values(n1: int, n2: int) -> np.ndarray:
    """p[k1, k2]: the two-sided Fisher exact p-value of every 2×2 table with these margins.

    For a fixed total k = k1 + k2, k1 is hypergeometric; the p-value of an outcome sums the
    probabilities of all outcomes no more likely than it (R's fisher.test, with its relative
    tolerance 1e-7 for ties)."""
    p = np.ones((n1 + 1, n2 + 1))
    for k in range(n1 + n2 + 1):
        lo, hi = max(0, k - n2), min(n1, k)
        x = np.arange(lo, hi + 1)
        pmf = stats.hypergeom.pmf(x, n1 + n2, k, n1)
        order = np.sort(pmf)
        cumulative = np.cumsum(order)
        # for each outcome: the mass of outcomes with pmf ≤ its own (ties within 1e-7 count)
        idx = np.searchsorted(order, pmf * (1 + 1e-7), side="right") - 1
        p[x, k - x] = np.minimum(1.0, cumulative[idx])
    return p


def fisher_p_value(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided Fisher exact test of k1/n1 against k2/n2."""
    return float(_fisher_p_values(n1, n2)[k1, k2])


def rate_power(n1: int, n2: int, p1: float, p2: float, alpha: float = ALPHA) -> float:
    """Probability that Fisher's test at level `alpha` rejects when the true rates are p1, p2."""
    reject = _fisher_p_values(n1, n2) < alpha
    w1 = stats.binom.pmf(np.arange(n1 + 1), n1, p1)
    w2 = stats.binom.pmf(np.arange(n2 + 1), n2, p2)
    return float(w1 @ reject @ w2)


def alternative_rate(p: float, delta: float = DELTA) -> float:
    """The rate `delta` away from p, in the direction with room (toward ½ when both have room
    the power is the smaller one, so the harder side is taken)."""
    up, down = min(1.0, p + delta), max(0.0, p - delta)
    if p + delta > 1:
        return down
    if p - delta < 0:
        return up
    return up if abs(up - 0.5) < abs(down - 0.5) else down


def seeds_needed(n2: int, p2: float, delta: float = DELTA, alpha: float = ALPHA, power: float = POWER) -> int | None:
    """Smallest n1 at which Fisher's test against n2 seeds at rate p2 detects a `delta`
    difference with the given power (None beyond MAX_SEEDS)."""
    p1 = alternative_rate(p2, delta)
    n = 2
    while n <= MAX_SEEDS:
        if rate_power(n, n2, p1, p2, alpha) >= power:
            lo = max(2, n // 2)  # refine the doubling search linearly
            return next(m for m in range(lo, n + 1) if rate_power(m, n2, p1, p2, alpha) >= power)
        n *= 2
    return None


def compare_rates(k1: int, n1: int, k2: int, n2: int, alpha: float = ALPHA, delta: float = DELTA) -> Verdict:
    """Sample 1 (e.g. this run: k1 successes of n1 seeds) against sample 2 (e.g. the paper)."""
    p = fisher_p_value(k1, n1, k2, n2)
    if p < alpha:
        return Verdict("differs", p, "higher" if k1 / n1 > k2 / n2 else "lower")
    p2 = k2 / n2
    power = rate_power(n1, n2, alternative_rate(p2, delta), p2, alpha)
    if power >= POWER:
        return Verdict("consistent", p, power=power)
    return Verdict("underpowered", p, power=power, seeds_needed=seeds_needed(n2, p2, delta, alpha))


def holm(p_values: list[float], alpha: float = ALPHA) -> list[bool]:
    """Holm's step-down procedure: which hypotheses are rejected with the family-wise error
    rate held at `alpha` across all of them."""
    order = np.argsort(p_values)
    rejected = [False] * len(p_values)
    m = len(p_values)
    for rank, i in enumerate(order):
        if p_values[i] >= alpha / (m - rank):
            break
        rejected[i] = True
    return rejected
