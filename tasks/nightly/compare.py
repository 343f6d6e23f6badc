"""Compare headline metrics against earlier ones (pure pandas).

A change is flagged only when it is beyond the relative `tolerance` *and* beyond seed noise:
against the previous night, the two nights' 95% intervals must not overlap; against the
rolling median of recent nights, the median must lie outside tonight's interval.
"""

from __future__ import annotations

import math

import pandas as pd

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
        change = _relative(value, previous[0])
        beyond_prev = abs(change) > tolerance and (lo > previous[2] or hi < previous[1])
    if median is not None and not beyond_prev:
        change = _relative(value, median)
        beyond_median = abs(change) > tolerance and not (lo <= median <= hi)
    if not (beyond_prev or beyond_median):
        return "ok"
    worse = change > 0 if better == "lower" else change < 0
    return "regression" if worse else "improvement"


def compare(
    tonight: pd.DataFrame, history: pd.DataFrame, tolerance: float, window: int, speed_tolerance: float | None = None
) -> pd.DataFrame:
    """Each of tonight's metrics against the previous successful night and the rolling
    median of the last `window` successful nights, with a verdict per metric. Timings get
    their own `speed_tolerance`: machine noise, not seed noise, limits them."""
    earlier = history[(history["status"] == "ok") & (history["date"] < tonight["date"].iloc[0])]
    rows = []
    for h in tonight.itertuples(index=False):
        past = earlier[(earlier["metric"] == h.metric) & (earlier["arch"] == h.arch)].sort_values("date")
        row = {
            "metric": h.metric,
            "arch": h.arch,
            "value": h.value,
            "ci_low": h.ci_low,
            "ci_high": h.ci_high,
            "better": h.better,
            "prev_date": None,
            "prev_value": math.nan,
            "rolling_median": math.nan,
            "change_vs_prev": math.nan,
            "change_vs_median": math.nan,
            "verdict": "new",
        }
        if len(past):
            prev = past.iloc[-1]
            median = float(past["value"].tail(window).median())
            row.update(
                prev_date=prev["date"],
                prev_value=float(prev["value"]),
                rolling_median=median,
                change_vs_prev=_relative(h.value, prev["value"]),
                change_vs_median=_relative(h.value, median),
            )
            previous = (float(prev["value"]), float(prev["ci_low"]), float(prev["ci_high"]))
            tol = tolerance_for(h.metric, tolerance, speed_tolerance)
            row["verdict"] = verdict((h.value, h.ci_low, h.ci_high), previous, median, tol, h.better)
        rows.append(row)
    return pd.DataFrame(rows)


def tolerance_for(metric: str, tolerance: float, speed_tolerance: float | None) -> float:
    return speed_tolerance if (metric in SPEED_METRICS and speed_tolerance is not None) else tolerance


def _relative(value: float, reference: float) -> float:
    if reference == 0 or not math.isfinite(reference):
        return 0.0 if value == reference else math.inf
    return (value - reference) / abs(reference)
