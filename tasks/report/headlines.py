"""A study's headline metrics, each with a 95% interval (pure pandas): what a night records
in its history and what comparisons (tasks.report.judgement) hold against each other."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tasks.evaluation.intervals import median_ci, wilson_interval
from tasks.report.summaries import in_range

HEADLINE_COVERAGES = (0.25, 0.01)  # extrapolation error reported at these coverages when present


@dataclass(frozen=True)
class Headline:
    metric: str  # e.g. "in_range_rmse"
    arch: str  # architecture label, or "all"
    value: float
    ci_low: float
    ci_high: float
    n: int
    better: str  # "lower" or "higher"


MIN_TIMED_SECONDS = 30.0  # a bundle that trains for less times mostly compilation, start-up and momentary load


def headlines(metrics: pd.DataFrame, models: pd.DataFrame) -> list[Headline]:
    """The night's headline metrics: per architecture the in-range RMSE, the RMSE at fixed
    coverages, the success rate per range pair (over seeds); and the training throughput."""
    return quality_headlines(metrics) + throughput(models.drop_duplicates("bundle_id"))[0]


def quality_headlines(metrics: pd.DataFrame) -> list[Headline]:
    """Everything but throughput; computed per architecture (a study's map/reduce does)."""
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
    return out


def throughput(bundles: pd.DataFrame) -> tuple[list[Headline], str]:
    """The throughput headline of a study's bundles (`bundle_model_steps_per_s`,
    `bundle_seconds`; one row per bundle) and a line saying what it rests on. Only bundles that
    trained at least MIN_TIMED_SECONDS count: shorter ones time compilation and start-up more
    than training, so a study without such bundles has no throughput headline (not judged)."""
    if not len(bundles) or "bundle_seconds" not in bundles:
        return [], "throughput not judged: the study records no training times"
    long = bundles[bundles["bundle_seconds"] >= MIN_TIMED_SECONDS]
    if not len(long):
        return [], (
            f"throughput not judged: no training bundle ran {MIN_TIMED_SECONDS:.0f} s or more (the longest "
            f"{bundles['bundle_seconds'].max():.3g} s), so its timing is mostly compilation and start-up"
        )
    note = f"throughput from the {len(long)} of {len(bundles)} bundles that trained {MIN_TIMED_SECONDS:.0f} s or more"
    return speed_headlines(long["bundle_model_steps_per_s"].to_numpy()), note


def speed_headlines(speeds: np.ndarray) -> list[Headline]:
    """Training throughput: the mean over bundles (model-steps/s) with a normal 95% interval."""
    out: list[Headline] = []
    if len(speeds):
        mean = float(np.mean(speeds))
        half = 1.96 * float(np.std(speeds, ddof=1)) / math.sqrt(len(speeds)) if len(speeds) > 1 else 0.0
        out.append(Headline("train_model_steps_per_s", "all", mean, mean - half, mean + half, len(speeds), "higher"))
    return out


def headline_frame(items: list[Headline], date: str) -> pd.DataFrame:
    frame = pd.DataFrame([vars(h) for h in items])
    frame.insert(0, "date", date)
    return frame
