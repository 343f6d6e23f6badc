"""Tonight's headline metrics against the history (pure pandas): each against the previous
successful night and the rolling median of recent nights, judged by tasks.report.judgement."""

from __future__ import annotations

import math

import pandas as pd

from tasks.report.judgement import relative_change, tolerance_for, verdict


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
                change_vs_prev=relative_change(h.value, prev["value"]),
                change_vs_median=relative_change(h.value, median),
            )
            previous = (float(prev["value"]), float(prev["ci_low"]), float(prev["ci_high"]))
            tol = tolerance_for(h.metric, tolerance, speed_tolerance)
            row["verdict"] = verdict((h.value, h.ci_low, h.ci_high), previous, median, tol, h.better)
        rows.append(row)
    return pd.DataFrame(rows)
