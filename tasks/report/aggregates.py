"""A study's aggregates: everything the report, the nightly and comparisons need, computed
per architecture (the reduce of a study's collection) and concatenated (pure pandas).

Medians and their intervals need every seed of a group, and a group never spans two
architectures, so one reduce task per architecture sees all it needs and returns only small
tables; the driver never holds a study's per-model rows. Where a figure shows individual
models, at most MAX_LINES seeds per panel are kept (the lowest seed numbers), with the median
and quartile band over all seeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from tasks.evaluation.intervals import median_ci
from tasks.report.headlines import quality_headlines
from tasks.report.summaries import by_range, fit_table, headline, success

MAX_LINES = 8  # individual seeds drawn per panel of the diagonal figure
MAX_DIVERGED_LISTED = 50  # per architecture; the count is always complete


@dataclass
class Summary:
    headline: pd.DataFrame = field(default_factory=pd.DataFrame)
    fit: pd.DataFrame = field(default_factory=pd.DataFrame)
    by_range: pd.DataFrame = field(default_factory=pd.DataFrame)
    success: pd.DataFrame = field(default_factory=pd.DataFrame)
    coverage: pd.DataFrame = field(default_factory=pd.DataFrame)  # the coverage figure's points
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)  # median training curves
    diagonal: pd.DataFrame = field(default_factory=pd.DataFrame)  # lines and bands of the article's figures
    diverged: pd.DataFrame = field(default_factory=pd.DataFrame)  # a listing (capped)
    headlines: pd.DataFrame = field(default_factory=pd.DataFrame)  # the nightly's quality headlines
    speeds: pd.DataFrame = field(default_factory=pd.DataFrame)  # bundle_id → model-steps/s, seconds trained
    counts: pd.DataFrame = field(default_factory=pd.DataFrame)  # per architecture: models, fitted, diverged

    @staticmethod
    def names() -> list[str]:
        return [f.name for f in fields(Summary)]

    def tables(self) -> dict[str, pd.DataFrame]:
        return {name: getattr(self, name) for name in self.names()}

    @staticmethod
    def combine(parts: list[Summary]) -> Summary:
        """The study's summary from its architectures' (in the order given)."""
        return Summary(**{n: pd.concat([getattr(p, n) for p in parts], ignore_index=True) for n in Summary.names()})

    def total(self, column: str) -> int:
        return int(self.counts[column].sum()) if len(self.counts) else 0


def summarise(tables: dict[str, pd.DataFrame], reference_range: str | None) -> Summary:
    """The aggregates of one architecture's (or a whole small study's) tidy tables."""
    metrics, models = tables["metrics"], tables["models"]
    diverged = models[models["diverged"]]
    return Summary(
        headline=headline(metrics),
        fit=fit_table(models),
        by_range=by_range(metrics),
        success=success(metrics, tables.get("probes")),
        coverage=coverage_points(metrics),
        curves=median_curves(tables["curves"]),
        diagonal=diagonal_lines(tables["diagonal"], reference_range),
        diverged=diverged[["model_id", "arch_label", "train_range", "seed", "diverged_step"]].head(MAX_DIVERGED_LISTED),
        headlines=pd.DataFrame([vars(h) for h in quality_headlines(metrics)]),
        speeds=models.drop_duplicates("bundle_id")[["bundle_id", "bundle_model_steps_per_s", "bundle_seconds"]],
        counts=counts(models),
    )


def counts(models: pd.DataFrame) -> pd.DataFrame:
    """Per architecture: models, how many fit and diverged, and how published tables name it."""
    layers = models["param_layers"] if "param_layers" in models else pd.Series(np.nan, index=models.index)
    keys = [model_key(a, lay) for a, lay in zip(models["arch"], layers)]
    out = (
        models.assign(model_key=keys)
        .groupby(["arch_label", "model_key"], sort=False)
        .agg(models=("model_id", "size"), fitted=("fit", "sum"), diverged=("diverged", "sum"))
        .reset_index()
    )
    return out.astype({"fitted": int, "diverged": int})


def model_key(arch: str, layers: str | float | None) -> str:
    """How published tables name a model: a stack by its layers (nau→nmu), others by name."""
    return str(layers).replace(",", "→") if arch == "stack" and isinstance(layers, str) else arch


def coverage_points(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per architecture, subset (all models or the fitted ones), metric and coverage > 0: the
    median over seeds and training ranges with a 95% bootstrap interval."""
    sq = metrics[(metrics["eval_kind"] == "square") & (metrics["coverage"] > 0)]
    rows = []
    for subset, frame in (("all", sq), ("fitted", sq[sq["fit"]])):
        for metric in ("rmse", "nrmse"):
            shown = frame[np.isfinite(frame[metric]) & (frame[metric] > 0)]  # log axes
            for (arch, cov), g in shown.groupby(["arch_label", "coverage"], sort=False):
                mid, lo, hi = median_ci(g[metric].to_numpy())
                rows.append(
                    {"arch_label": arch, "subset": subset, "metric": metric, "coverage": cov}
                    | {"median": mid, "ci_low": lo, "ci_high": hi, "n": len(g)}
                )
    return pd.DataFrame(rows)


def median_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """Median training and validation MSE per architecture, training range and logged step."""
    keys = ["arch_label", "train_range", "step"]
    out = curves.groupby(keys, sort=False)[["train_mse", "val_mse"]].median()
    return out.reset_index()


def diagonal_lines(diagonal: pd.DataFrame, reference_range: str | None) -> pd.DataFrame:
    """For models trained on the reference range: up to MAX_LINES seeds' curves (the lowest
    seeds) and, over every seed, the median and quartiles of model(x, x); and the operation's
    y there (x² for a·b)."""
    if reference_range is None or not len(diagonal):
        return pd.DataFrame(columns=["arch_label", "kind", "seed", "x", "y"])
    d = diagonal[diagonal["train_range"] == reference_range]
    parts = []
    for arch, da in d.groupby("arch_label", sort=False):
        seeds = sorted(da["seed"].unique())[:MAX_LINES]
        lines = da[da["seed"].isin(seeds)]
        parts.append(
            pd.DataFrame({"arch_label": arch, "kind": "line", "seed": lines["seed"], "x": lines["x"]}).assign(
                y=lines["y_pred"].to_numpy()
            )
        )
        q = da.groupby("x")["y_pred"].quantile([0.25, 0.5, 0.75]).unstack()
        truth = da.drop_duplicates("x").set_index("x")["y_true"]
        for kind, values in (("q25", q[0.25]), ("median", q[0.5]), ("q75", q[0.75]), ("truth", truth)):
            parts.append(
                pd.DataFrame({"arch_label": arch, "kind": kind, "seed": -1, "x": values.index, "y": values.to_numpy()})
            )
    return (
        pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["arch_label", "kind", "seed", "x", "y"])
    )


def reference_range(train_ranges: list[tuple[str, float, float]]) -> str | None:
    """The range the article's figures show: [0,1] when studied, else the narrowest."""
    if not train_ranges:
        return None
    labels = [label for label, _, _ in train_ranges]
    if "[0,1]" in labels:
        return "[0,1]"
    return min(train_ranges, key=lambda r: r[2] - r[1])[0]
