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
enumerating both binomials.

Estimates that come with a 95% interval and no per-seed data on one side (a paper's mean
"solved at" step or sparsity error) are compared by their difference and its 95% interval,
built from the two intervals by Zou & Donner's MOVER (each side's half-width on the side that
faces the other estimate, so skewed profile intervals keep their shape); it differs when the
interval excludes 0. Its power is against a relative difference of `delta` (20% of the
published value), from the normal approximation with the two standard errors; the seeds
needed scale this run's standard error as 1/√n. Pure numpy; scipy supplies the distributions.
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
    seeds_needed: int | None = (
        None  # first-sample seeds at which that power reaches POWER (None: unknown or > MAX_SEEDS)
    )

    difference: tuple[float, float, float] | None = None  # estimates: (run − published, low, high)
    unit: str = "20-point"  # the difference that matters, in words
    note: str = ""  # why no number of seeds is given, where that is so

    def describe(self) -> str:
        p = "p n/a" if np.isnan(self.p_value) else f"p = {self.p_value:.2g}"
        if self.label == "differs":
            return f"differs ({self.direction}, {p})"
        if self.label == "underpowered":
            power = "" if np.isnan(self.power) else f"power {self.power:.0%}; "
            if self.note:
                return f"underpowered ({p}; {power}{self.note})"
            need = f"{self.seeds_needed} seeds" if self.seeds_needed else f"over {MAX_SEEDS} seeds"
            return f"underpowered ({p}; {power}a {self.unit} difference needs {need})"
        return f"consistent ({p})"


@functools.lru_cache(maxsize=256)
def _fisher_p_values(n1: int, n2: int) -> np.ndarray:
    """p[k1, k2]: the two-sided Fisher exact p-value of every 2×2 table with these margins.

    For a fixed total k = k1 + k2, k1 is hypergeometric; the p-value of an outcome sums the
    probabilities of all outcomes no more likely than it (R's fisher.test, with its relative
    tolerance 1e-7 for ties)."""
    p = np.ones((n1 + 1, n2 + 1))
    x1, x2 = np.arange(n1 + 1)[:, None], np.arange(n2 + 1)[None, :]
    table_pmf = np.exp(stats.hypergeom.logpmf(x1, n1 + n2, x1 + x2, n1))  # every table at once (logpmf: fast)
    for k in range(n1 + n2 + 1):
        lo, hi = max(0, k - n2), min(n1, k)
        x = np.arange(lo, hi + 1)
        pmf = table_pmf[x, k - x]
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

    def enough(n: int) -> bool:
        return rate_power(n, n2, p1, p2, alpha) >= power

    lo, hi = 1, 2
    while not enough(hi):  # doubling up to MAX_SEEDS, then bisection: power(lo) short, power(hi) enough
        if hi >= MAX_SEEDS:
            return None
        lo, hi = hi, min(2 * hi, MAX_SEEDS)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if enough(mid) else (mid, hi)
    return hi


def compare_rates(k1: int, n1: int, k2: int, n2: int, alpha: float = ALPHA, delta: float = DELTA) -> Verdict:
    """Sample 1 (e.g. this run: k1 successes of n1 seeds) against sample 2 (e.g. the paper)."""
    p = fisher_p_value(k1, n1, k2, n2)
    if p < alpha:
        return Verdict("differs", p, "higher" if k1 / n1 > k2 / n2 else "lower")
    p2 = k2 / n2
    power = rate_power(n1, n2, alternative_rate(p2, delta), p2, alpha)
    if power >= POWER:
        return Verdict("consistent", p, power=power)
    need = seeds_needed(n2, p2, delta, alpha)
    note = "" if need else f"not even {MAX_SEEDS} seeds would see a 20-point difference against the published {n2}"
    return Verdict("underpowered", p, power=power, seeds_needed=need, note=note)


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


Estimate = tuple[float, float, float]  # (value, low, high): a 95% interval


def _half_widths(e: Estimate) -> tuple[float, float]:
    return e[0] - e[1], e[2] - e[0]


def mover_difference(run: Estimate, published: Estimate) -> Estimate:
    """run − published with its 95% interval by MOVER (Zou & Donner 2008) from the two 95%
    intervals: the low end combines the run's lower and the paper's upper half-widths."""
    (r_lo, r_hi), (p_lo, p_hi) = _half_widths(run), _half_widths(published)
    d = run[0] - published[0]
    return d, d - float(np.hypot(r_lo, p_hi)), d + float(np.hypot(r_hi, p_lo))


def _standard_error(e: Estimate, z: float) -> float:
    return (e[2] - e[1]) / (2 * z)


def estimate_power(se: float, difference: float, alpha: float = ALPHA) -> float:
    """Probability that the two-sided z-test at level `alpha` rejects when the true difference
    is `difference` and its standard error `se`."""
    z = stats.norm.ppf(1 - alpha / 2)
    shift = abs(difference) / se if se > 0 else np.inf
    return float(stats.norm.cdf(shift - z) + stats.norm.cdf(-shift - z))


def estimate_seeds_needed(
    run: Estimate, n_run: int, published: Estimate, delta: float = DELTA, alpha: float = ALPHA, power: float = POWER
) -> int | None:
    """Run seeds (of those the estimate is over) at which a difference of `delta` × the
    published value is detected with `power`, this run's standard error scaled as 1/√n; None
    where the published interval alone is too wide, the run has no interval, or beyond MAX_SEEDS."""
    z = stats.norm.ppf(1 - alpha / 2)
    target = abs(delta * published[0]) / (z + stats.norm.ppf(power))  # the total SE that suffices
    se_pub = _standard_error(published, z)
    room = target**2 - se_pub**2
    if room <= 0 or not np.isfinite(room):
        return None
    if not (np.isfinite(run[1]) and np.isfinite(run[2]) and n_run > 1):
        return None
    per_seed = _standard_error(run, z) ** 2 * n_run  # variance of one seed's contribution
    need = int(np.ceil(per_seed / room)) if per_seed > 0 else 2
    return max(2, need) if need <= MAX_SEEDS else None


def compare_estimates(
    run: Estimate, n_run: int, published: Estimate, alpha: float = ALPHA, delta: float = DELTA
) -> Verdict:
    """This run's estimate (over n_run seeds) against a published one, both with 95% intervals:
    differs when the MOVER interval of the difference excludes 0 (p from the normal
    approximation on the side facing 0); else consistent where a difference of `delta` × the
    published value would have been seen with power POWER, underpowered where not or where
    either side has no interval."""
    unit = f"{delta:.0%}"
    if not np.isfinite(run[0]):
        return Verdict("underpowered", float("nan"), unit=unit, note="no successful seed here to compare")
    if not all(np.isfinite(v) for v in (*run, *published)):
        side = "this run" if not all(np.isfinite(v) for v in run) else "the paper"
        return Verdict("underpowered", float("nan"), unit=unit, note=f"no interval from {side}: nothing to test")
    z = stats.norm.ppf(1 - alpha / 2)
    d, lo, hi = mover_difference(run, published)
    side = (d - lo) if d > 0 else (hi - d)  # the half-width toward 0
    se = side / z
    p = float(2 * stats.norm.sf(abs(d) / se)) if se > 0 else (0.0 if d != 0 else 1.0)
    if lo > 0 or hi < 0:
        return Verdict("differs", p, "higher" if d > 0 else "lower", difference=(d, lo, hi), unit=unit)
    total_se = float(np.hypot(_standard_error(run, z), _standard_error(published, z)))
    power = estimate_power(total_se, delta * published[0], alpha)
    if power >= POWER:
        return Verdict("consistent", p, power=power, difference=(d, lo, hi), unit=unit)
    need = estimate_seeds_needed(run, n_run, published, delta, alpha)
    z_power = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(POWER)
    note = ""
    if need is None and _standard_error(published, z) >= abs(delta * published[0]) / z_power:
        note = f"the published interval alone is too wide to resolve a {unit} difference"
    return Verdict("underpowered", p, power=power, seeds_needed=need, difference=(d, lo, hi), unit=unit, note=note)
