"""The report's figures (seaborn), each drawn from tables and returned as PNG bytes."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # headless: figures are files, never windows
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

FIGURE_DPI = 110


def png(fig) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _reference_range(models: pd.DataFrame) -> str:
    """The article's training range when present, else the narrowest one."""
    ranges = models.drop_duplicates("train_range")
    if (ranges["train_range"] == "[0,1]").any():
        return "[0,1]"
    return ranges.assign(w=ranges["train_hi"] - ranges["train_lo"]).sort_values("w")["train_range"].iloc[0]


def diagonal_figure(diagonal: pd.DataFrame, models: pd.DataFrame, zoom: bool, title: str) -> bytes:
    """model(x, x) against x² for models trained on the reference range, one panel per architecture."""
    ref = _reference_range(models)
    d = diagonal[diagonal["train_range"] == ref]
    lo, hi = models.loc[models["train_range"] == ref, ["train_lo", "train_hi"]].iloc[0]
    if zoom:  # the training range itself (where it meets the diagonal's grid)
        d = d[(d["x"] >= lo) & (d["x"] <= hi)]
    archs = list(dict.fromkeys(d["arch_label"]))
    fig, axes = plt.subplots(1, len(archs), figsize=(4.6 * len(archs), 3.8), squeeze=False, sharey=True)
    for ax, arch in zip(axes[0], archs):
        da = d[d["arch_label"] == arch]
        truth = da.drop_duplicates("x")
        ax.plot(truth["x"], truth["y_true"], color="black", lw=2.2, ls="--", label="x²")
        sns.lineplot(data=da, x="x", y="y_pred", hue="seed", palette="crest", lw=1.1, ax=ax, legend=False)
        ax.set_title(arch, fontsize=9)
        ax.set_xlabel("x  (a = b = x)")
        ax.set_ylabel("model(x, x)")
        ax.axvspan(lo, hi, color="tab:green", alpha=0.08, label="training range")
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(f"{title} — trained on {ref}², one line per seed", fontsize=10)
    return png(fig)


def coverage_figure(metrics: pd.DataFrame, metric: str = "rmse", title: str = "all models") -> bytes:
    """Extrapolation error against training coverage: median over seeds and training
    ranges with a 95% CI band, one line per architecture, log axes (coverage 0 and exact
    zeros, which a log axis cannot show, omitted)."""
    sq = metrics[(metrics["eval_kind"] == "square") & (metrics["coverage"] > 0)]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, m in zip(axes, (metric, "nrmse")):
        shown = sq[np.isfinite(sq[m]) & (sq[m] > 0)]
        if not len(shown):
            ax.text(0.5, 0.5, "no models to show", ha="center", va="center", transform=ax.transAxes)
            continue
        sns.lineplot(
            data=shown,
            x="coverage",
            y=m,
            hue="arch_label",
            estimator="median",
            errorbar=("ci", 95),
            marker="o",
            ax=ax,
            n_boot=500,
            seed=0,
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.invert_xaxis()  # read left to right: from inside the training range to far outside
        ax.set_xlabel("coverage (probability mass of the evaluation inputs inside the training region)", fontsize=8)
        ax.set_ylabel(m)
        ax.legend(title="architecture", fontsize=7, title_fontsize=8)
    fig.suptitle(f"Extrapolation error against training coverage — {title} (median over seeds, 95% CI)", fontsize=10)
    return png(fig)


def success_figure(table: pd.DataFrame) -> bytes:
    """Success rate with Wilson 95% intervals per training → evaluation range, one marker
    colour per architecture."""
    t = table.assign(pair=table["train_range"] + " → " + table["eval_range"])
    pairs = list(dict.fromkeys(t["pair"]))
    archs = list(dict.fromkeys(t["arch_label"]))
    palette = sns.color_palette("tab10", len(archs))
    fig, ax = plt.subplots(figsize=(min(16.0, max(6.0, 0.55 * len(pairs) + 3)), 4.4))
    width = 0.8 / max(1, len(archs))
    for j, (arch, colour) in enumerate(zip(archs, palette)):
        rows = t[t["arch_label"] == arch].set_index("pair").reindex(pairs)
        x = np.arange(len(pairs)) - 0.4 + width * (j + 0.5)
        rate = rows["success_rate"].to_numpy(float)
        err = np.vstack([rate - rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float) - rate])
        err = np.nan_to_num(np.clip(err, 0, None))  # float round-off can make an edge a hair negative
        ax.errorbar(x, rate, yerr=err, fmt="o", color=colour, capsize=3, label=arch, ms=5)
    ax.set_xticks(np.arange(len(pairs)), pairs, rotation=35, ha="right", fontsize=7)
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("success rate (Wilson 95% CI)")
    ax.set_xlabel("training range → evaluation range")
    ax.legend(fontsize=7, loc="best")
    ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Success: test MSE below a nearly-perfect multiplier's (ε-perturbed inputs)", fontsize=10)
    return png(fig)


def curves_figure(curves: pd.DataFrame) -> bytes:
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, col in zip(axes, ("train_mse", "val_mse")):
        c = curves[np.isfinite(curves[col]) & (curves[col] > 0)]
        if len(c):
            sns.lineplot(
                data=c, x="step", y=col, hue="arch_label", style="train_range", estimator="median", errorbar=None, ax=ax
            )
            ax.set_yscale("log")
            ax.legend(fontsize=7)
        ax.set_title(col.replace("_", " "), fontsize=9)
    fig.suptitle("Training curves (median over seeds)", fontsize=10)
    return png(fig)
