"""Tonight's headline metrics against the history (pure pandas): each tested against the
previous successful night's seeds, all of tonight's headlines as one family
(tasks.report.judgement); the rolling median of recent nights is shown beside it.

Why the previous night alone: nights run the same seeds, so pooling earlier nights would count
the same seeds several times, as if they were independent. A night recorded before headlines
kept their per-seed values leaves its medians *not comparable* (its success rates are still
tested: k/n and n are all Fisher's test needs); the next night is judged as usual."""

from __future__ import annotations

import math

import pandas as pd

from tasks.report.judgement import Judgement, Pair, Side, judge, relative_change, sample_of


def compare(
    tonight: pd.DataFrame, history: pd.DataFrame, tolerance: float, window: int, speed_tolerance: float | None = None
) -> pd.DataFrame:
    """Each of tonight's metrics against the previous successful night (the test) and the
    rolling median of the last `window` successful nights (context), with a verdict per
    metric. Timings get their own `speed_tolerance`: machine noise, not seed noise, limits them."""
    earlier = history[(history["status"] == "ok") & (history["date"] < tonight["date"].iloc[0])]
    nights = dict(list(earlier.sort_values("date", kind="stable").groupby(["metric", "arch"], sort=False)))
    rows, pairs = [], {}
    for i, h in enumerate(tonight.to_dict("records")):
        past = nights.get((h["metric"], h["arch"]), earlier.iloc[0:0])
        row = {key: h[key] for key in ("metric", "arch", "value", "ci_low", "ci_high", "n", "better")}
        row |= {
            "prev_date": None,
            "prev_value": math.nan,
            "prev_n": math.nan,
            "change_vs_prev": math.nan,
            "rolling_median": math.nan,
            "change_vs_median": math.nan,
        }
        row |= Judgement("new").columns()
        if len(past):
            prev = past.iloc[-1]
            median = float(past["value"].tail(window).median())
            row.update(
                prev_date=prev["date"],
                prev_value=float(prev["value"]),
                prev_n=int(prev["n"]),
                rolling_median=median,
                change_vs_median=relative_change(h["value"], median),
            )
            pairs[i] = Pair(h["metric"], h["better"], _side(prev.to_dict()), _side(h))
        rows.append(row)
    for i, judged in zip(pairs, judge(list(pairs.values()), tolerance, speed_tolerance)):
        rows[i] |= judged.columns() | {"change_vs_prev": judged.change}  # success rates: in rate points
    return pd.DataFrame(rows)


def _side(row: dict) -> Side:
    return Side(float(row["value"]), int(row["n"]), sample_of(row.get("sample")))
