"""The report's figures (seaborn), each drawn from tables and returned as PNG bytes."""

from __future__ import annotations

import io
import textwrap

import matplotlib

matplotlib.use("Agg")  # headless: figures are files, never windows
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from tasks.report.aggregates import MAX_LINES

FIGURE_DPI = 110


def png(fig) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


MAX_PANELS_PER_ROW = 4


def diagonal_figure(
    lines: pd.DataFrame,
    reference: str,
    bounds: tuple[float, float],
    zoom: bool,
    title: str,
    truth: str = "x²",
    sharey: bool = True,
) -> bytes:
    """model(x, x) against the operation's y there (`truth`: how to write it, x² for a·b) for
    models trained on the reference range, one panel per architecture (rows of at most
    MAX_PANELS_PER_ROW): a few seeds' curves, and the median with the quartile band over all seeds;
    `sharey`: one y axis for all (panels of different operations need their own)."""
    lo, hi = bounds
    d = lines[(lines["x"] >= lo) & (lines["x"] <= hi)] if zoom else lines  # zoom: the training range
    archs = list(dict.fromkeys(d["arch_label"])) or [""]
    ncols = min(len(archs), MAX_PANELS_PER_ROW)
    nrows = -(-len(archs) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.8 * nrows), squeeze=False, sharey=sharey)
    for ax in axes.flat[len(archs) :]:
        ax.set_visible(False)
    for ax, arch in zip(axes.flat, archs):
        da = d[d["arch_label"] == arch]
        part = {kind: g.sort_values("x") for kind, g in da.groupby("kind")}
        seeds = part.get("line", da.iloc[0:0])
        palette = sns.color_palette("crest", max(1, seeds["seed"].nunique()))
        for colour, (_, g) in zip(palette, seeds.groupby("seed")):
            ax.plot(g["x"], g["y"], color=colour, lw=0.9, alpha=0.8)
        if "median" in part:
            ax.fill_between(part["q25"]["x"], part["q25"]["y"], part["q75"]["y"], color="tab:orange", alpha=0.2)
            ax.plot(part["median"]["x"], part["median"]["y"], color="tab:orange", lw=1.6, label="median (all seeds)")
        if "truth" in part:
            ax.plot(part["truth"]["x"], part["truth"]["y"], color="black", lw=2.2, ls="--", label=truth)
        ax.set_title(textwrap.fill(arch, 48), fontsize=9 if nrows == 1 else 8)
        ax.set_xlabel("x  (a = b = x)")
        ax.set_ylabel("model(x, x)")
        ax.axvspan(lo, hi, color="tab:green", alpha=0.08, label="training range")
        ax.legend(loc="upper left", fontsize=7)
    fig.suptitle(
        f"{title} — trained on {reference}², thin lines: up to {MAX_LINES} seeds (the lowest), band: quartiles",
        fontsize=10,
    )
    if nrows > 1:  # keep the title close to the panels, and the panels' titles clear of each other
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))
    return png(fig)


def coverage_figure(points: pd.DataFrame, subset: str, title: str) -> bytes:
    """Extrapolation error against training coverage: median over seeds and training ranges
    with a 95% bootstrap interval, one line per architecture, log axes (coverage 0 and exact
    zeros, which a log axis cannot show, are left out)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    chosen = points[points["subset"] == subset] if len(points) else points
    for ax, metric in zip(axes, ("rmse", "nrmse")):
        shown = chosen[chosen["metric"] == metric] if len(chosen) else chosen
        if not len(shown):
            ax.text(0.5, 0.5, "no models to show", ha="center", va="center", transform=ax.transAxes)
            continue
        for arch, g in shown.groupby("arch_label", sort=False):
            g = g.sort_values("coverage")
            (line,) = ax.plot(g["coverage"], g["median"], marker="o", label=arch)
            ax.fill_between(g["coverage"], g["ci_low"], g["ci_high"], color=line.get_color(), alpha=0.2)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.invert_xaxis()  # read left to right: from inside the training range to far outside
        ax.set_xlabel("coverage (probability mass of the evaluation inputs inside the training region)", fontsize=8)
        ax.set_ylabel(metric)
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
    fig.suptitle("Success: test MSE below the ε-perturbed ideal model's", fontsize=10)
    return png(fig)


def operation_figure(cells: pd.DataFrame) -> bytes:
    """Which unit extrapolates which operation: the success rate per architecture (row) and
    operation (column), each cell annotated with its Wilson 95% interval and successes/seeds."""
    archs = list(dict.fromkeys(cells["architecture"]))
    ops = list(dict.fromkeys(cells["operation"]))
    grid = cells.set_index(["architecture", "operation"])
    rate = np.full((len(archs), len(ops)), np.nan)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.5 * len(ops) + 3), max(2.5, 0.55 * len(archs) + 1.5)))
    for i, arch in enumerate(archs):
        for j, op in enumerate(ops):
            if (arch, op) not in grid.index:
                continue
            c = grid.loc[(arch, op)]
            rate[i, j] = c["rate"]
            label = f"{c['rate']:.2f}\n[{c['ci_low']:.2f}, {c['ci_high']:.2f}]\n{int(c['successes'])}/{int(c['seeds'])}"
            ax.text(j, i, label, ha="center", va="center", fontsize=7)
    image = ax.imshow(rate, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto", alpha=0.6)  # light: the text stays legible
    ax.set_xticks(np.arange(len(ops)), ops, fontsize=8)
    ax.set_yticks(np.arange(len(archs)), archs, fontsize=7)
    ax.set_xlabel("operation (success on its extrapolation range)")
    fig.colorbar(image, ax=ax, label="success rate")
    fig.suptitle("Which unit extrapolates which operation (Wilson 95% intervals over seeds)", fontsize=10)
    return png(fig)


def curves_figure(curves: pd.DataFrame) -> bytes:
    """Median training and validation MSE over steps, a line per architecture and training range."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, col in zip(axes, ("train_mse", "val_mse")):
        c = curves[np.isfinite(curves[col]) & (curves[col] > 0)] if len(curves) else curves
        for (arch, train), g in c.groupby(["arch_label", "train_range"], sort=False):
            ax.plot(g["step"], g[col], lw=1.1, label=f"{arch} @ {train}")
        if len(c):
            ax.set_yscale("log")
            ax.legend(fontsize=6)
        ax.set_title(col.replace("_", " "), fontsize=9)
    fig.suptitle("Training curves (median over seeds)", fontsize=10)
    return png(fig)
