"""The report's figures, drawn from a constructed `quick`-like study: no legend covers a plotted
point (the legend's window extent against the display coordinates of every line vertex, marker,
error bar and band), panel titles fit their panels, ranges read in numeric order on every axis,
and every figure comes as PNG, SVG and PDF, the same bytes each time (pure: no Ray)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from report_study import ARCHS, summary_and_info

from tasks.core.ranges import label_order
from tasks.report.figures import (
    coverage_figure,
    curves_figure,
    diagonal_figure,
    horizon_figure,
    plt,
    render,
    success_figure,
)


@pytest.fixture(scope="module")
def summary():
    return summary_and_info()[0]


def drawn(summary):
    """Every figure the report draws from these tables, by name."""
    return {
        "diagonal_train_range": diagonal_figure(summary.diagonal, "[0,1]", (0.0, 1.0), True, "Inside"),
        "diagonal_full": diagonal_figure(summary.diagonal, "[0,1]", (0.0, 1.0), False, "Beyond"),
        "error_vs_coverage": coverage_figure(summary.coverage, "all", "all"),
        "error_vs_coverage_fitted": coverage_figure(summary.coverage, "fitted", "fitted"),
        "training_curves": curves_figure(summary.curves),
        "success": success_figure(summary.success),
        "horizon": horizon_figure(summary.horizons, "NRMSE ≤ 0.01"),
    }


def plotted_points(ax) -> np.ndarray:
    """Display coordinates of what the axes plot, inside the axes: lines (their vertices and 20
    points along each segment drawn), scatter markers, the vertices of bands, error bars and spans."""
    parts = [along(line) for line in ax.get_lines() if len(line.get_xydata())]
    for coll in ax.collections:
        if isinstance(coll, PathCollection):  # markers: their positions
            parts.append(coll.get_offset_transform().transform(coll.get_offsets()))
        else:  # bands (fill_between), error bars: their vertices
            parts += [coll.get_transform().transform(p.vertices) for p in coll.get_paths() if len(p.vertices)]
    parts += [p.get_transform().transform(p.get_path().vertices) for p in ax.patches]
    points = np.concatenate(parts) if parts else np.zeros((0, 2))
    points = points[np.isfinite(points).all(axis=1)]
    box = ax.get_window_extent()
    inside = (points[:, 0] >= box.x0) & (points[:, 0] <= box.x1) & (points[:, 1] >= box.y0) & (points[:, 1] <= box.y1)
    return points[inside]


def along(line) -> np.ndarray:
    """A line's vertices in display coordinates, and points along the segments it draws."""
    xy = line.get_transform().transform(line.get_xydata())
    if line.get_linestyle() in ("None", "none", "", " ") or len(xy) < 2:
        return xy
    t = np.linspace(0, 1, 21)[:, None, None]
    return np.concatenate([xy, (xy[:-1] + t * (xy[1:] - xy[:-1])).reshape(-1, 2)])


def covered(fig) -> int:
    """How many plotted points lie under a legend of the figure."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    assert legends, "the figure has no legend to check"
    count = 0
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            p = plotted_points(ax)
            count += int(((p[:, 0] > box.x0) & (p[:, 0] < box.x1) & (p[:, 1] > box.y0) & (p[:, 1] < box.y1)).sum())
    return count


def test_no_legend_covers_a_plotted_point(summary):
    for name, fig in drawn(summary).items():
        assert covered(fig) == 0, name
        plt.close(fig)


def test_the_check_sees_a_legend_over_the_data():
    fig, ax = plt.subplots()
    x = np.linspace(0, 1, 200)
    for k in range(3):
        ax.plot(x, x + k, label=f"line {k}")
    ax.legend(loc="center")
    assert covered(fig) > 0
    plt.close(fig)


def test_panel_titles_fit_their_panels(summary):
    """Four architectures with long full-spec labels: each title within its panel's width, none
    running into its neighbour's."""
    long = {label: f"{label} [learning_rate=0.003 optimizer=adam steps=40000 batch_size=512]" for label in ARCHS}
    lines = summary.diagonal.assign(arch_label=summary.diagonal["arch_label"].map(long))
    stack = lines[lines["arch_label"] == next(iter(long.values()))].assign(arch_label="nau→nmu λ=10@1000–2000 ε=1e-07")
    fig = diagonal_figure(pd.concat([lines, stack]), "[0,1]", (0.0, 1.0), True, "Inside")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    panels = [ax for ax in fig.axes if ax.get_visible()]
    boxes = [ax.title.get_window_extent(renderer) for ax in panels]
    assert len(panels) == 4
    for ax, box in zip(panels, boxes):
        frame = ax.get_window_extent()
        assert box.x0 >= frame.x0 - 2 and box.x1 <= frame.x1 + 2, ax.get_title()
    for left, right in itertools.pairwise(boxes):
        assert left.x1 < right.x0
    plt.close(fig)


def test_ranges_read_in_numeric_order_on_every_axis(summary):
    figures = drawn(summary)
    pairs = [t.get_text().split(" → ") for t in figures["success"].axes[0].get_xticklabels()]
    assert pairs == sorted(pairs, key=lambda p: (label_order(p[0]), label_order(p[1])))
    assert [p[0] for p in pairs][:: len(pairs) // 3][:3] == ["[0,1]", "[0,2]", "[0,10]"]
    for ax in figures["horizon"].axes:
        assert [t.get_text() for t in ax.get_xticklabels()] == ["[0,1]", "[0,2]", "[0,10]"]
    legend = figures["training_curves"].axes[1].get_legend()
    trained = [t.get_text() for t in legend.get_texts() if t.get_text().startswith("trained on")]
    assert trained == ["trained on [0,1]", "trained on [0,2]", "trained on [0,10]"]
    for fig in figures.values():
        plt.close(fig)


def test_every_figure_comes_as_png_svg_and_pdf_the_same_each_time(summary):
    first = render(horizon_figure(summary.horizons, "NRMSE ≤ 0.01"))
    again = render(horizon_figure(summary.horizons, "NRMSE ≤ 0.01"))
    assert first["png"].startswith(b"\x89PNG") and b"<svg" in first["svg"][:400] and first["pdf"].startswith(b"%PDF")
    assert first["svg"] == again["svg"] and first["pdf"] == again["pdf"]  # no dates, no random ids
    assert b"/FontFile2" in first["pdf"]  # TrueType fonts embedded, as journals ask
