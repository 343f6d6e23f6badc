"""How headline metrics are judged against earlier ones (pure): a stated test per headline,
Holm across all headlines judged together, and the tolerance as the change that matters.
The nightly (tasks.nightly.compare) and study comparisons (tasks.report.comparison) both
judge this way; the tests are tasks.evaluation.significance's.

    success rates        Fisher's exact test, two-sided, of k/n seeds against k'/n' (a
                         headline keeps both: value = k/n and n)
    medians, throughput  the Wilcoxon rank-sum (Mann–Whitney U) test, two-sided, of the
                         seeds' values (throughput: the bundles'), which headlines keep

A rank test rather than a bootstrap of the difference of medians: under the null that matters
here — the same config, other seeds — the two samples are exchangeable, so the rank test's
error rate is exactly α (its null distribution is exact for the few seeds a night has), while
a bootstrap of medians of 5–10 seeds is discrete and too narrow, rejecting more often than it
says; ranks also ignore the scale of errors that span decades. Where a headline's median moves
but its seeds do not shift as a whole, the rank test may not reject: it tests the seeds, the
median only sets the size of the change.

Every headline compared in one night (or one comparison) is a member of one family. Those
that cannot reach p < α whatever the data (too few seeds; for rates, every seed on both
sides agreeing, which Fisher's test conditions on) are left out of it — a rule on sample
sizes, not outcomes (Tarone), so the family-wise error rate still holds — and labelled
underpowered. Holm's step-down over the rest holds the chance of any false flag in a night
at α = 0.05. Then each headline is

    regression / improvement  rejected after Holm, and its change beyond the tolerance
                              (relative for medians and throughput, in rate points for
                              success rates), in the direction the test found
    no change                 not rejected, and the test had power ≥ 80% to see a change as
                              large as the tolerance at level α/m (m: the family's size,
                              Holm's first step); or rejected but within the tolerance
    underpowered              not rejected, with less power than that: the data cannot decide
                              (also: rejected, but the seeds and the median moved opposite ways)
    not comparable            a side keeps no per-seed values (results collected before
                              COLLECT_VERSION 4, nights recorded before they were kept)

Power against the tolerance: for rates, exact (both binomials enumerated) against a rate
`tolerance` points away from the reference's; for the rank test, simulated with every seed's
value scaled by (1 ± tolerance) and the seeds' log values normal with their pooled spread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tasks.evaluation.significance import (
    ALPHA,
    POWER,
    alternative_rate,
    fisher_p_value,
    fisher_smallest_p,
    holm_adjusted,
    log_spread,
    rank_sum_power,
    rank_sum_smallest_p,
    rank_sum_test,
    rate_power,
)

SPEED_METRICS = ("train_model_steps_per_s",)
RATE_METRICS = ("success_rate",)
VERDICTS = ("regression", "improvement", "no change", "underpowered", "not comparable")


@dataclass(frozen=True)
class Side:
    """One side of a comparison: the headline value, its n and its per-seed sample (None
    where the side keeps none)."""

    value: float
    n: int
    sample: np.ndarray | None = None


@dataclass(frozen=True)
class Pair:
    metric: str
    better: str  # "lower" or "higher"
    reference: Side  # the earlier night, study A
    current: Side  # tonight, study B


@dataclass(frozen=True)
class Judgement:
    verdict: str
    test: str = ""
    p_value: float = math.nan
    p_holm: float = math.nan  # Holm-adjusted over the family; NaN outside it
    power: float = math.nan  # against a change of the tolerance, at level α/m
    change: float = math.nan  # relative; for success rates in rate points
    note: str = ""

    def columns(self) -> dict[str, object]:
        return {"test": self.test, "p_value": self.p_value, "p_holm": self.p_holm, "power": self.power} | {
            "verdict": self.verdict,
            "note": self.note,
        }


@dataclass(frozen=True)
class _Tested:
    """One pair's test before the family is known."""

    test: str
    p_value: float
    smallest_p: float
    change: float
    direction: int  # the test's: +1 the current side tends larger, -1 smaller, 0 neither
    tolerance: float
    power_args: tuple  # what the power at a level needs


def sample_of(value: object) -> np.ndarray | None:
    """A stored per-seed sample as an array; None where a row keeps none (an older night or
    study: the column is missing or the cell empty)."""
    if value is None or np.ndim(value) == 0:  # missing: None, NaN or NA
        return None
    return np.asarray(value, np.float64)


def tolerance_for(metric: str, tolerance: float, speed_tolerance: float | None) -> float:
    return speed_tolerance if (metric in SPEED_METRICS and speed_tolerance is not None) else tolerance


def change(metric: str, value: float, reference: float) -> float:
    """The change the tolerance is held against: in rate points for success rates, else relative."""
    return value - reference if metric in RATE_METRICS else relative_change(value, reference)


def relative_change(value: float, reference: float) -> float:
    if reference == 0 or not math.isfinite(reference):
        return 0.0 if value == reference else math.inf
    return (value - reference) / abs(reference)


def judge(
    pairs: list[Pair], tolerance: float, speed_tolerance: float | None = None, alpha: float = ALPHA
) -> list[Judgement]:
    """Every pair judged as one family (see the module's docstring)."""
    tested = [_test(p, tolerance_for(p.metric, tolerance, speed_tolerance)) for p in pairs]
    family = [i for i, t in enumerate(tested) if not isinstance(t, Judgement) and t.smallest_p < alpha]
    adjusted = dict(zip(family, holm_adjusted([tested[i].p_value for i in family])))
    level = alpha / max(1, len(family))
    out = []
    for i, (pair, t) in enumerate(zip(pairs, tested)):
        if isinstance(t, Judgement):
            out.append(t)
        elif i not in adjusted:
            out.append(_cannot_reject(pair, t, alpha))
        else:
            out.append(_decide(pair, t, adjusted[i], level, alpha))
    return out


def _test(pair: Pair, tolerance: float) -> _Tested | Judgement:
    ref, cur = pair.reference, pair.current
    if pair.metric in RATE_METRICS:
        k_ref, k_cur = round(ref.value * ref.n), round(cur.value * cur.n)
        p = fisher_p_value(k_cur, cur.n, k_ref, ref.n)
        smallest = fisher_smallest_p(cur.n, ref.n, k_cur + k_ref)
        moved = change(pair.metric, cur.value, ref.value)
        args = (cur.n, ref.n, alternative_rate(ref.value, tolerance), ref.value)
        return _Tested("Fisher exact", p, smallest, moved, int(np.sign(moved)), tolerance, args)
    if ref.sample is None or cur.sample is None:
        side = "the reference" if ref.sample is None else "the current side"
        moved = change(pair.metric, cur.value, ref.value)
        note = f"{side} keeps no per-seed values (recorded by an earlier version)"
        return Judgement("not comparable", change=moved, note=note)
    if not len(ref.sample) or not len(cur.sample):
        return Judgement("underpowered", power=0.0, note="no finite per-seed value on one side")
    result = rank_sum_test(cur.sample, ref.sample)
    smallest = rank_sum_smallest_p(len(cur.sample), len(ref.sample))
    direction = int(np.sign(round(result.dominance - 0.5, 12)))
    spread = log_spread(cur.sample, ref.sample)
    args = (len(cur.sample), len(ref.sample), 1 + tolerance, spread)
    moved = change(pair.metric, cur.value, ref.value)
    return _Tested(f"rank-sum ({result.method})", result.p_value, smallest, moved, direction, tolerance, args)


def _power(pair: Pair, t: _Tested, level: float) -> float:
    if pair.metric in RATE_METRICS:
        return rate_power(*t.power_args, alpha=level)
    return rank_sum_power(*t.power_args, alpha=level)


def _cannot_reject(pair: Pair, t: _Tested, alpha: float) -> Judgement:
    n = f"{t.power_args[0]} against {t.power_args[1]} seeds"
    if pair.metric in RATE_METRICS and t.smallest_p >= 1 - 1e-9:
        why = "every seed on both sides agrees (all succeed or all fail): Fisher's test cannot reject"
    elif pair.metric in RATE_METRICS:
        k = round(pair.reference.value * pair.reference.n) + round(pair.current.value * pair.current.n)
        why = f"{n}, {k} successes in all (Fisher's test conditions on them): its smallest p is {t.smallest_p:.2g}"
        why += f" ≥ α = {alpha:g}"
    else:
        why = f"{n}: the smallest p-value this test can give is {t.smallest_p:.2g} ≥ α = {alpha:g}"
    return Judgement("underpowered", t.test, t.p_value, math.nan, 0.0, t.change, why)


def _decide(pair: Pair, t: _Tested, p_holm: float, level: float, alpha: float) -> Judgement:
    beyond = abs(t.change) > t.tolerance
    agrees = np.sign(t.change) == t.direction
    if p_holm < alpha and beyond and agrees:
        worse = t.change > 0 if pair.better == "lower" else t.change < 0
        return Judgement("regression" if worse else "improvement", t.test, t.p_value, p_holm, math.nan, t.change)
    if p_holm < alpha and not beyond:
        note = "significant, but within the tolerance"
        return Judgement("no change", t.test, t.p_value, p_holm, math.nan, t.change, note)
    if p_holm < alpha:  # the seeds moved one way, the median the other: no direction to call
        note = "significant, but the seeds shift against the headline's change"
        return Judgement("underpowered", t.test, t.p_value, p_holm, math.nan, t.change, note)
    power = _power(pair, t, level)
    size = _size(pair.metric, t.tolerance)
    if power >= POWER:
        return Judgement("no change", t.test, t.p_value, p_holm, power, t.change)
    note = f"power {power:.0%} against a change of {size} at level α/m = {level:.2g}"
    return Judgement("underpowered", t.test, t.p_value, p_holm, power, t.change, note)


def _size(metric: str, tolerance: float) -> str:
    return f"{tolerance * 100:.0f} rate points" if metric in RATE_METRICS else f"{tolerance:.0%}"


def describe_rule(tolerance: float, speed_tolerance: float | None, family: int) -> str:
    """One paragraph for a page: how its verdicts were reached."""
    speed = f" ({speed_tolerance:.0%} for throughput)" if speed_tolerance is not None else ""
    return (
        f"Success rates are tested by Fisher's exact test, medians and throughput by the Wilcoxon rank-sum "
        f"(Mann–Whitney) test on the per-seed values; Holm's step-down across "
        f"the {family} headlines that can reach significance holds the chance of any false flag at α = {ALPHA:g}. "
        f"A regression or improvement is significant after Holm and larger than the tolerance: {tolerance:.0%}"
        f"{speed}, success rates {tolerance * 100:.0f} rate points. No change: not significant, with power ≥ "
        f"{POWER:.0%} against a change of the tolerance; underpowered: the data cannot decide (too few seeds, "
        f"or too much seed spread for the tolerance)."
    )
