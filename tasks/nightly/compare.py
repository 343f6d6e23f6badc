"""Compare headline metrics against earlier ones (pure pandas).

A change is flagged only when it is beyond the relative `tolerance` *and* beyond seed noise:
against the previous night, the two nights' 95% intervals must not overlap; against the
rolling median of recent nights, the median must lie outside tonight's interval.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

SPEED_METRICS = ("train_model_steps_per_s",)


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
        tol = speed_tolerance if (h.metric in SPEED_METRICS and speed_tolerance is not None) else tolerance
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
            disjoint = h.ci_low > prev["ci_high"] or h.ci_high < prev["ci_low"]
            beyond_prev = abs(row["change_vs_prev"]) > tol and disjoint
            beyond_median = abs(row["change_vs_median"]) > tol and not (h.ci_low <= median <= h.ci_high)
            direction = np.sign(row["change_vs_prev"] if beyond_prev else row["change_vs_median"])
            worse = direction > 0 if h.better == "lower" else direction < 0
            row["verdict"] = ("regression" if worse else "improvement") if (beyond_prev or beyond_median) else "ok"
        rows.append(row)
    return pd.DataFrame(rows)


def _relative(value: float, reference: float) -> float:
    if reference == 0 or not math.isfinite(reference):
        return 0.0 if value == reference else math.inf
    return (value - reference) / abs(reference)
