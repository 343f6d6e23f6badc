"""A study's headline metrics, each with a 95% interval (pure pandas): what a night records
in its history and what comparisons (tasks.nightly.compare) hold against each other."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tasks.evaluation.intervals import wilson_interval
from tasks.report.summaries import in_range

HEADLINE_COVERAGES = (0.25, 0.01)  # extrapolation error reported at these coverages when present
BOOTSTRAP_SAMPLES = 2000


@dataclass(frozen=True)
class Headline:
    metric: str  # e.g. "in_range_rmse"
    arch: str  # architecture label, or "all"
    value: float
    ci_low: float
    ci_high: float
    n: int
    better: str  # "lower" or "higher"


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


def headlines(metrics: pd.DataFrame, models: pd.DataFrame) -> list[Headline]:
    """The night's headline metrics: per architecture the in-range RMSE, the RMSE at fixed
    coverages, the success rate per range pair (over seeds); and the training throughput."""
    out: list[Headline] = []
    squares = metrics[metrics["eval_kind"] == "square"]
    inside = in_range(metrics)
    for (arch, train), g in inside.groupby(["arch_label", "train_range"], sort=True):  # RMSE has the range's scale
        out.append(Headline("in_range_rmse", f"{arch} @ {train}", *median_ci(g["rmse"].to_numpy()), len(g), "lower"))
    for arch, g in inside.groupby("arch_label", sort=True):  # scale-free: pooled over training ranges
        out.append(Headline("in_range_nrmse", arch, *median_ci(g["nrmse"].to_numpy()), len(g), "lower"))
    for cov in HEADLINE_COVERAGES:
        at = squares[np.isclose(squares["coverage"], cov)]
        for arch, g in at.groupby("arch_label", sort=True):
            out.append(Headline(f"nrmse_at_coverage_{cov:g}", arch, *median_ci(g["nrmse"].to_numpy()), len(g), "lower"))
    # success: the seed is the unit of replication — per architecture and training → evaluation
    # range, the share of seeds that succeed (Wilson interval over seeds); in-range rows left out
    outside = squares[squares["eval_range"] != squares["train_range"]]
    for (arch, train, ev), g in outside.groupby(["arch_label", "train_range", "eval_range"], sort=True):
        per_seed = g.groupby("seed")["success"].all()
        k, n = int(per_seed.sum()), len(per_seed)
        lo, hi = wilson_interval(k, n)
        out.append(Headline("success_rate", f"{arch} @ {train} → {ev}", k / n, lo, hi, n, "higher"))
    speeds = models.drop_duplicates("bundle_id")["bundle_model_steps_per_s"].to_numpy()
    if len(speeds):
        mean = float(np.mean(speeds))
        half = 1.96 * float(np.std(speeds, ddof=1)) / math.sqrt(len(speeds)) if len(speeds) > 1 else 0.0
        out.append(Headline("train_model_steps_per_s", "all", mean, mean - half, mean + half, len(speeds), "higher"))
    return out


def headline_frame(items: list[Headline], date: str) -> pd.DataFrame:
    frame = pd.DataFrame([vars(h) for h in items])
    frame.insert(0, "date", date)
    return frame
