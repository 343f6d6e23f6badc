"""How one headline metric is judged against an earlier one (pure): flagged only when the
change is beyond the relative `tolerance` *and* beyond seed noise — against an earlier result,
the two 95% intervals must not overlap; against a rolling median, the median must lie outside
the current interval. The nightly (tasks.nightly.compare) and study comparisons
(tasks.report.comparison) both judge this way."""

from __future__ import annotations

import math

SPEED_METRICS = ("train_model_steps_per_s",)


def verdict(
    current: tuple[float, float, float],
    previous: tuple[float, float, float] | None,
    median: float | None,
    tolerance: float,
    better: str,
) -> str:
    """ok, regression or improvement of (value, ci_low, ci_high) against a previous result and,
    optionally, a rolling median: flagged only beyond `tolerance` and beyond seed noise
    (disjoint intervals; the median outside the current interval)."""
    value, lo, hi = current
    beyond_prev = beyond_median = False
    change = math.nan
    if previous is not None:
        change = relative_change(value, previous[0])
        beyond_prev = abs(change) > tolerance and (lo > previous[2] or hi < previous[1])
    if median is not None and not beyond_prev:
        change = relative_change(value, median)
        beyond_median = abs(change) > tolerance and not (lo <= median <= hi)
    if not (beyond_prev or beyond_median):
        return "ok"
    worse = change > 0 if better == "lower" else change < 0
    return "regression" if worse else "improvement"


def tolerance_for(metric: str, tolerance: float, speed_tolerance: float | None) -> float:
    return speed_tolerance if (metric in SPEED_METRICS and speed_tolerance is not None) else tolerance


def relative_change(value: float, reference: float) -> float:
    if reference == 0 or not math.isfinite(reference):
        return 0.0 if value == reference else math.inf
    return (value - reference) / abs(reference)
