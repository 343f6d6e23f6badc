"""Summary tables derived from the tidy results (pure pandas): what the report shows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tasks.evaluation.intervals import SUMMARIES


def in_range(metrics: pd.DataFrame) -> pd.DataFrame:
    """Rows evaluating a model on exactly its own training square."""
    sq = metrics[metrics["eval_kind"] == "square"]
    return sq[sq["eval_range"] == sq["train_range"]]


def fit_flags(metrics: pd.DataFrame, fit_nrmse: float) -> pd.DataFrame:
    """Per model: its in-range normalised RMSE and whether it fits its training range (at most
    `fit_nrmse`): a model that did not fit cannot tell us how it extrapolates."""
    inside = in_range(metrics)[["model_id", "nrmse"]].rename(columns={"nrmse": "in_range_nrmse"})
    inside = inside.drop_duplicates("model_id")
    return inside.assign(fit=inside["in_range_nrmse"] <= fit_nrmse)  # NaN (diverged) never fits


def fit_table(models: pd.DataFrame) -> pd.DataFrame:
    """Per architecture and training range: how many seeds fit, and the in-range error."""
    g = models.groupby(["arch_label", "train_range"], sort=False)
    out = g.agg(
        seeds=("seed", "nunique"),
        fitted=("fit", "sum"),
        in_range_nrmse_median=("in_range_nrmse", "median"),
        in_range_nrmse_max=("in_range_nrmse", "max"),
    ).reset_index()
    out["fitted"] = out["fitted"].astype(int)
    return out


def headline(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per architecture and training range: how many seeds fit, the median in-range RMSE over
    seeds, and each diagonal segment's median RMSE with its ratio to the in-range RMSE (∞ when
    the in-range RMSE is exactly 0: a unit exact on its operation)."""
    keys = ["arch_label", "train_range"]
    base = (
        in_range(metrics)
        .groupby(keys, sort=False)
        .agg(seeds=("seed", "nunique"), fitted=("fit", "sum"), in_range_rmse=("rmse", "median"))
    )
    base["fitted"] = base["fitted"].astype(int)
    diag = metrics[metrics["eval_kind"] == "diagonal"]
    if len(diag):
        seg = diag.pivot_table(index=keys, columns="eval_range", values="rmse", aggfunc="median", sort=False)
        seg.columns = [f"diag_rmse_{c}" for c in seg.columns]
        base = base.join(seg)
        for c in seg.columns:
            base[c.replace("diag_rmse_", "diag_ratio_")] = base[c] / base["in_range_rmse"]
    return base.reset_index()


def by_range(metrics: pd.DataFrame, metric: str = "rmse") -> pd.DataFrame:
    """Median (and 25–75% spread) of `metric` over seeds per architecture × training ×
    evaluation range, with coverage: the numbers behind the coverage figure; and the median
    over the fitted seeds only."""
    sq = metrics[metrics["eval_kind"] == "square"]
    keys = ["arch_label", "train_range", "eval_range"]
    out = sq.groupby(keys, sort=False).agg(
        coverage=("coverage", "first"),
        seeds=("seed", "nunique"),
        fitted=("fit", "sum"),
        median=(metric, "median"),
        q25=(metric, lambda s: _finite_quantile(s, 0.25)),
        q75=(metric, lambda s: _finite_quantile(s, 0.75)),
        diverged=("diverged", "sum"),
    )
    out["median_fitted"] = sq[sq["fit"]].groupby(keys, sort=False)[metric].median()
    out["fitted"] = out["fitted"].astype(int)
    return out.reset_index().rename(
        columns={
            "median": f"{metric}_median",
            "q25": f"{metric}_q25",
            "q75": f"{metric}_q75",
            "median_fitted": f"{metric}_median_fitted",
        }
    )


def _finite_quantile(values: pd.Series, q: float) -> float:
    """Quantile over finite values (diverged models are counted in their own column)."""
    finite = values[np.isfinite(values)]
    return float(np.quantile(finite, q)) if len(finite) else float("nan")


def solved_at(probes: pd.DataFrame) -> pd.DataFrame:
    """Per model and evaluation range: the first logged step whose MSE is under the success
    threshold (NaN if never), from the curves watched during training."""
    if probes is None or not len(probes):
        return pd.DataFrame(columns=["model_id", "eval_range", "solved_at"])
    under = probes[probes["mse"] < probes["threshold"]]
    first = under.groupby(["model_id", "eval_range"], sort=False)["step"].min().rename("solved_at").reset_index()
    return first


def success(metrics: pd.DataFrame, probes: pd.DataFrame | None = None, summary: str = "iclr2020") -> pd.DataFrame:
    """Success rate per architecture × training range × evaluation range with its Wilson 95%
    interval over seeds; over the successful seeds, the "solved at" step and the sparsity
    error — through the papers' own summary (`summary`: tasks.evaluation.intervals.SUMMARIES,
    stable-nalu's by default)."""
    sq = metrics[metrics["eval_kind"] == "square"].copy()
    sq = sq.merge(solved_at(probes), on=["model_id", "eval_range"], how="left")
    summarise = SUMMARIES[summary]
    rows = []
    for (arch, train, evaluation), g in sq.groupby(["arch_label", "train_range", "eval_range"], sort=False):
        won = g["success"].to_numpy(bool)  # one row per seed
        fitted = g[g["fit"]] if "fit" in g else g
        kf, nf = int(fitted["success"].sum()), int(fitted["seed"].nunique())
        sparse = g.loc[won, "sparsity_error"] if "sparsity_error" in g else pd.Series(dtype=float)
        stats = summarise(won, g.loc[won, "solved_at"].to_numpy(float), sparse.to_numpy(float))
        rows.append(
            {
                "arch_label": arch,
                "train_range": train,
                "eval_range": evaluation,
                "coverage": float(g["coverage"].iloc[0]),
                "seeds": len(g),
                "successes": int(won.sum()),
            }
            | {k: v for k, v in stats.items() if k in ("success_rate", "ci_low", "ci_high")}
            | {
                "fitted_seeds": nf,
                "successes_fitted": kf,
                "success_rate_fitted": kf / nf if nf else np.nan,
                **{c: g[c].iloc[0] for c in SERIES_COLUMNS if c in g},
            }
            | {k: v for k, v in stats.items() if k not in ("success_rate", "ci_low", "ci_high")}
        )
    return pd.DataFrame(rows)


SERIES_COLUMNS = ("operation", "unit_label")  # what a series label (arch_label) is made of


def operation_cells(successes: pd.DataFrame, symbols: dict[str, str]) -> pd.DataFrame:
    """Which unit extrapolates which operation, long: per architecture and operation (named
    by `symbols`, in its order; with the range pair where an operation has several), the
    success rate on extrapolation with its Wilson 95% interval and successes/seeds."""
    far = successes[successes["eval_range"] != successes["train_range"]]
    if not len(far) or "operation" not in far:
        return pd.DataFrame(columns=["architecture", "operation", "rate", "ci_low", "ci_high", "successes", "seeds"])
    unit = "unit_label" if "unit_label" in far else "arch_label"
    n_pairs = far.drop_duplicates(["operation", "train_range", "eval_range"]).groupby("operation").size()
    rank = {o: i for i, o in enumerate(symbols)}  # the study's order of operations
    far = far.iloc[far["operation"].map(lambda o: rank.get(o, len(rank))).argsort(kind="stable")]
    symbol = far["operation"].map(lambda o: symbols.get(o, o))
    pair = far["train_range"] + " → " + far["eval_range"]
    return pd.DataFrame(
        {
            "architecture": far[unit],
            "operation": symbol.where(far["operation"].map(n_pairs) == 1, symbol + " " + pair),
            "rate": far["success_rate"],
            "ci_low": far["ci_low"],
            "ci_high": far["ci_high"],
            "successes": far["successes"],
            "seeds": far["seeds"],
        }
    ).reset_index(drop=True)


def operation_table(cells: pd.DataFrame) -> pd.DataFrame:
    """`operation_cells` as a grid: an architecture per row, an operation per column, each
    cell "rate [low, high] (successes/seeds)"."""
    text = [
        f"{r:.2f} [{lo:.2f}, {hi:.2f}] ({k}/{n})"
        for r, lo, hi, k, n in zip(cells["rate"], cells["ci_low"], cells["ci_high"], cells["successes"], cells["seeds"])
    ]
    grid = cells.assign(cell=text).pivot_table(
        index="architecture", columns="operation", values="cell", aggfunc="first", sort=False
    )
    return grid.reset_index().rename_axis(columns=None)
