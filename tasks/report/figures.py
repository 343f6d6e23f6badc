"""The report's figures (matplotlib, seaborn palettes), each drawn from tables and returned as a
Figure; `render` writes one as PNG (embedded in the page), SVG and PDF (for papers). Legends sit
outside the axes, beside the data they name (tests/test_figures.py checks none covers a point).
"""

from __future__ import annotations

import io
import textwrap

import matplotlib

matplotlib.use("Agg")  # headless: figures are files, never windows
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from tasks.core.ranges import label_order
from tasks.report.aggregates import MAX_LINES
from tasks.report.summaries import ordered_ranges
from tasks.study.config import VECTOR_FORMATS

FIGURE_DPI = 110
METADATA = {"png": {}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}  # no timestamps: same bytes each time
matplotlib.rcParams["svg.hashsalt"] = "multiplication-lab"  # SVG ids from a fixed salt, not a random one
matplotlib.rcParams["pdf.fonttype"] = 42  # TrueType fonts in PDFs (what journals ask for, not Type 3)


def render(fig: Figure, vector: tuple[str, ...] = VECTOR_FORMATS) -> dict[str, bytes]:
    """The figure as {format: bytes}: PNG (for the page) and each of the `vector` formats (for
    papers, report/figures/); the figure is closed."""
    # Lay out and measure once, then write each format at that layout: "tight" and the layout
    # engine would otherwise redo both (two draws) for every format.
    fig.set_dpi(FIGURE_DPI)
    fig.canvas.draw()
    bbox = fig.get_tightbbox(fig.canvas.get_renderer()).padded(matplotlib.rcParams["savefig.pad_inches"])
    fig.set_layout_engine("none")
    out = {}
    for fmt in ("png", *vector):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=FIGURE_DPI, bbox_inches=bbox, metadata=METADATA[fmt])
        out[fmt] = buf.getvalue()
    plt.close(fig)
    return out


def png(fig) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def legend_beside(ax, handles=None, labels=None, **kwargs) -> None:
    """The axes' legend to its right, outside the data (the saved figure grows to hold it)."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if handles:
        options = {"fontsize": 7, "title_fontsize": 8} | kwargs
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0, **options)


def title_width(panel_inches: float, fontsize: float) -> int:
    """Characters of a title that fit on one line above a panel this wide."""
    return max(12, int(panel_inches * 72 / (fontsize * 0.62)))


MAX_PANELS_PER_ROW = 4


PANEL_INCHES = 4.6


def diagonal_figure(
    lines: pd.DataFrame,
    reference: str,
    bounds: tuple[float, float],
    zoom: bool,
    title: str,
    truth: str = "x²",
    sharey: bool = True,
) -> Figure:
    """model(x, x) against the operation's y there (`truth`: how to write it, x² for a·b) for
    models trained on the reference range, one panel per architecture (rows of at most
    MAX_PANELS_PER_ROW): a few seeds' curves, and the median with the quartile band over all seeds;
    `sharey`: one y axis for all (panels of different operations need their own). One legend,
    beside the first row."""
    lo, hi = bounds
    d = lines[(lines["x"] >= lo) & (lines["x"] <= hi)] if zoom else lines  # zoom: the training range
    archs = list(dict.fromkeys(d["arch_label"])) or [""]
    ncols = min(len(archs), MAX_PANELS_PER_ROW)
    nrows = -(-len(archs) // ncols)
    size = (PANEL_INCHES * ncols, 3.8 * nrows)
    fig, axes = plt.subplots(nrows, ncols, figsize=size, squeeze=False, sharey=sharey, layout="constrained")
    for ax in axes.flat[len(archs) :]:
        ax.set_visible(False)
    fontsize = 9 if nrows == 1 else 8
    for ax, arch in zip(axes.flat, archs):
        da = d[d["arch_label"] == arch]
        part = {kind: g.sort_values("x") for kind, g in da.groupby("kind")}
        seeds = part.get("line", da.iloc[0:0])
        palette = sns.color_palette("crest", max(1, seeds["seed"].nunique()))
        for colour, (_, g) in zip(palette, seeds.groupby("seed")):
            ax.plot(g["x"], g["y"], color=colour, lw=0.9, alpha=0.8)
        if "median" in part:
            ax.fill_between(part["q25"]["x"], part["q25"]["y"], part["q75"]["y"], color="tab:orange", alpha=0.2)
            ax.plot(part["median"]["x"], part["median"]["y"], color="tab:orange", lw=1.6)
        if "truth" in part:
            ax.plot(part["truth"]["x"], part["truth"]["y"], color="black", lw=2.2, ls="--")
        ax.set_title(textwrap.fill(arch, title_width(PANEL_INCHES, fontsize)), fontsize=fontsize)
        ax.set_xlabel("x  (a = b = x)")
        ax.set_ylabel("model(x, x)")
        ax.axvspan(lo, hi, color="tab:green", alpha=0.08)
    keys = [
        Line2D([], [], color=sns.color_palette("crest", 1)[0], lw=0.9, label=f"a seed (up to {MAX_LINES})"),
        Line2D([], [], color="tab:orange", lw=1.6, label="median, quartile band (all seeds)"),
        Line2D([], [], color="black", lw=2.2, ls="--", label=truth),
        Patch(color="tab:green", alpha=0.15, label=f"training range {reference}"),
    ]
    legend_beside(axes[0, ncols - 1], keys, [k.get_label() for k in keys])
    fig.suptitle(f"{title} — models trained on {reference}²", fontsize=10)
    return fig


def coverage_figure(points: pd.DataFrame, subset: str, title: str) -> Figure:
    """Extrapolation error against training coverage: median over seeds and training ranges
    with a 95% bootstrap interval, one line per architecture, log axes (coverage 0 and exact
    zeros, which a log axis cannot show, are left out); the legend beside the second panel."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    chosen = points[points["subset"] == subset] if len(points) else points
    archs = list(dict.fromkeys(chosen["arch_label"])) if len(chosen) else []
    colours = dict(zip(archs, sns.color_palette("tab10", max(1, len(archs)))))
    for ax, metric in zip(axes, ("rmse", "nrmse")):
        shown = chosen[chosen["metric"] == metric] if len(chosen) else chosen
        if not len(shown):
            ax.text(0.5, 0.5, "no models to show", ha="center", va="center", transform=ax.transAxes)
            continue
        for arch, g in shown.groupby("arch_label", sort=False):
            g = g.sort_values("coverage")
            ax.plot(g["coverage"], g["median"], marker="o", label=arch, color=colours[arch])
            ax.fill_between(g["coverage"], g["ci_low"], g["ci_high"], color=colours[arch], alpha=0.2)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.invert_xaxis()  # read left to right: from inside the training range to far outside
        ax.set_xlabel("coverage (probability mass of the evaluation inputs inside the training region)", fontsize=8)
        ax.set_ylabel(metric)
    handles = [Line2D([], [], color=colours[a], marker="o", label=a) for a in archs]
    legend_beside(axes[1], handles, archs, title="architecture")
    fig.suptitle(f"Extrapolation error against training coverage — {title} (median over seeds, 95% CI)", fontsize=10)
    return fig


def success_figure(table: pd.DataFrame) -> Figure:
    """Success rate with Wilson 95% intervals per training → evaluation range (numeric order),
    one marker colour per architecture."""
    t = table.assign(pair=table["train_range"] + " → " + table["eval_range"])
    ordered = sorted(dict.fromkeys(zip(t["train_range"], t["eval_range"])), key=lambda p: tuple(map(label_order, p)))
    pairs = [f"{a} → {b}" for a, b in ordered]
    archs = list(dict.fromkeys(t["arch_label"]))
    palette = sns.color_palette("tab10", len(archs))
    fig, ax = plt.subplots(figsize=(min(16.0, max(6.0, 0.55 * len(pairs) + 3)), 4.4), layout="constrained")
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
    legend_beside(ax, title="architecture")
    ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Success: test MSE below the ε-perturbed ideal model's", fontsize=10)
    return fig


def operation_figure(cells: pd.DataFrame) -> Figure:
    """Which unit extrapolates which operation: the success rate per architecture (row) and
    operation (column), each cell annotated with its Wilson 95% interval and successes/seeds."""
    archs = list(dict.fromkeys(cells["architecture"]))
    ops = list(dict.fromkeys(cells["operation"]))
    grid = cells.set_index(["architecture", "operation"])
    rate = np.full((len(archs), len(ops)), np.nan)
    size = (max(5.0, 1.5 * len(ops) + 3), max(2.5, 0.55 * len(archs) + 1.5))
    fig, ax = plt.subplots(figsize=size, layout="constrained")
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
    return fig


LINE_STYLES = ("-", "--", ":", "-.")


def curves_figure(curves: pd.DataFrame) -> Figure:
    """Median training and validation MSE over steps: a colour per architecture, a line style
    per training range (numeric order); the legend beside the second panel."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    archs = list(dict.fromkeys(curves["arch_label"])) if len(curves) else []
    trains = ordered_ranges(curves["train_range"]) if len(curves) else []
    colours = dict(zip(archs, sns.color_palette("tab10", max(1, len(archs)))))
    styles = {t: LINE_STYLES[i % len(LINE_STYLES)] for i, t in enumerate(trains)}
    for ax, col in zip(axes, ("train_mse", "val_mse")):
        c = curves[np.isfinite(curves[col]) & (curves[col] > 0)] if len(curves) else curves
        for (arch, train), g in c.groupby(["arch_label", "train_range"], sort=False):
            ax.plot(g["step"], g[col], lw=1.1, color=colours[arch], ls=styles[train])
        if len(c):
            ax.set_yscale("log")
        ax.set_title(col.replace("_", " "), fontsize=9)
        ax.set_xlabel("step")
    handles = [Line2D([], [], color=colours[a], lw=1.6, label=a) for a in archs]
    handles += [Line2D([], [], color="grey", ls=styles[t], lw=1.1, label=f"trained on {t}") for t in trains]
    legend_beside(axes[1], handles, [h.get_label() for h in handles])
    fig.suptitle("Training curves (median over seeds)", fontsize=10)
    return fig


def horizon_figure(table: pd.DataFrame, tolerance: str) -> Figure:
    """The extrapolation horizon per training range (numeric order) and architecture: the
    median over seeds with its 95% bootstrap interval, as a widening scale (left) and as the
    coverage of that range by the training range (right); a median at the cap is drawn ▲ on the
    cap's line (≥ cap), a median of none ✕ below 1."""
    trains = ordered_ranges(table["train_range"])
    archs = list(dict.fromkeys(table["arch_label"]))
    colours = dict(zip(archs, sns.color_palette("tab10", max(1, len(archs)))))
    fig, axes = plt.subplots(1, 2, figsize=(max(9.0, 1.6 * len(trains) * max(1, len(archs)) / 2 + 6), 4.2))
    fig.set_layout_engine("constrained")
    width = 0.7 / max(1, len(archs))
    cap = float(table["cap"].max()) if len(table) else 1.0
    none_at = 0.8  # where a median of none is drawn, below every horizon (≥ 1)
    for j, arch in enumerate(archs):
        rows = table[table["arch_label"] == arch].set_index("train_range").reindex(trains)
        x = np.arange(len(trains)) - 0.35 + width * (j + 0.5)
        mid = rows["horizon_median"].to_numpy(float)
        has, capped = mid > 0, mid >= rows["cap"].to_numpy(float)
        _interval(axes[0], x, rows[["horizon_median", "horizon_ci_low", "horizon_ci_high"]], has, colours[arch])
        axes[0].plot(x[has & ~capped], mid[has & ~capped], "o", color=colours[arch], ms=6)
        axes[0].plot(x[capped], mid[capped], "^", color=colours[arch], ms=8)
        none = ~has & np.isfinite(mid)
        axes[0].plot(x[none], np.full(none.sum(), none_at), "x", color=colours[arch])
        cov = rows[["coverage_median", "coverage_ci_low", "coverage_ci_high"]]
        shown = np.isfinite(cov["coverage_median"].to_numpy(float))
        _interval(axes[1], x, cov, shown, colours[arch])
        at = cov["coverage_median"].to_numpy(float)
        axes[1].plot(x[shown & ~capped], at[shown & ~capped], "o", color=colours[arch], ms=6)
        axes[1].plot(x[shown & capped], at[shown & capped], "^", color=colours[arch], ms=8)
    axes[0].axhline(cap, color="grey", ls=":", lw=1)
    axes[0].set_yscale("log")
    axes[0].set_ylim(none_at * 0.85, cap * 1.6)
    axes[0].set_ylabel(f"horizon: widening scale within {tolerance}", fontsize=8)
    axes[1].set_yscale("log")
    axes[1].invert_yaxis()  # up is further out on both panels
    axes[1].set_ylabel("horizon as coverage (seeds with a horizon)", fontsize=8)
    for ax in axes:
        ax.set_xticks(np.arange(len(trains)), trains, fontsize=8)
        ax.set_xlabel("training range")
        ax.set_xlim(-0.6, len(trains) - 0.4)
        ax.grid(axis="y", alpha=0.3)
    handles = [Line2D([], [], color=colours[a], marker="o", ls="", label=a) for a in archs]
    handles += [
        Line2D([], [], color="grey", marker="^", ls="", label=f"median at the cap (≥ {cap:g})"),
        Line2D([], [], color="grey", marker="x", ls="", label="median: none (outside on its training range)"),
    ]
    legend_beside(axes[1], handles, [h.get_label() for h in handles], title="architecture")
    fig.suptitle("Extrapolation horizon per training range (median over seeds, 95% CI)", fontsize=10)
    return fig


def _interval(ax, x: np.ndarray, frame: pd.DataFrame, shown: np.ndarray, colour) -> None:
    """Vertical 95% interval bars (columns: median, low, high) where `shown`."""
    mid, lo, hi = (frame.iloc[:, i].to_numpy(float) for i in range(3))
    pick = shown & np.isfinite(lo) & np.isfinite(hi) & (lo > 0)
    if pick.any():
        err = np.clip(np.vstack([mid[pick] - lo[pick], hi[pick] - mid[pick]]), 0, None)
        ax.errorbar(x[pick], mid[pick], yerr=err, fmt="none", ecolor=colour, capsize=3, lw=1)
