"""The report's captions, computed from the data they describe (pure): a caption never claims a
fit, a breakdown or a horizon the numbers do not show."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _listing(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def inside_caption(fit: pd.DataFrame, reference: str, y: str, fit_nrmse: float) -> str:
    """The article's first figure: how many of the models trained on the reference range fit
    `y` there (in-range NRMSE at most `fit_nrmse`), per architecture when they differ."""
    rows = fit[fit["train_range"] == reference]
    fitted, seeds = int(rows["fitted"].sum()), int(rows["seeds"].sum())
    rule = f"in-range NRMSE ≤ {fit_nrmse:g}"
    head = f"The article's first figure, models trained on {reference}²: "
    if seeds and fitted == seeds:
        return head + f"all {seeds} models fit {y} on their training range ({rule}); there the network looks like {y}."
    if fitted == 0:
        return head + f"none of the {seeds} models fits {y} on its training range ({rule})."
    per_arch = [f"{r.arch_label} {int(r.fitted)}/{int(r.seeds)}" for r in rows.itertuples()]
    return head + f"{fitted} of {seeds} models fit {y} on their training range ({rule}): {_listing(per_arch)}."


def beyond_nrmse(diagonal: pd.DataFrame, bounds: tuple[float, float]) -> dict[str, float]:
    """Per architecture: the NRMSE of the median model(x, x) against the operation's y on the
    diagonal outside the training range (NaN where nothing lies outside)."""
    out = {}
    for arch, d in diagonal.groupby("arch_label", sort=False):
        median = d[d["kind"] == "median"].set_index("x")["y"]
        truth = d[d["kind"] == "truth"].set_index("x")["y"]
        both = pd.concat([median.rename("m"), truth.rename("t")], axis=1).dropna()
        outside = both[(both.index < bounds[0]) | (both.index > bounds[1])]
        rms = float(np.sqrt(np.mean(outside["t"] ** 2))) if len(outside) else 0.0
        out[arch] = float(np.sqrt(np.mean((outside["m"] - outside["t"]) ** 2))) / rms if rms > 0 else float("nan")
    return out


def beyond_caption(
    diagonal: pd.DataFrame, bounds: tuple[float, float], truth: str, fit_nrmse: float, far: float | None = None
) -> str:
    """The article's second figure: per architecture the median model's NRMSE against `truth`
    beyond the training range (up to `far`, the diagonal's end), and whether the imitation
    breaks down there (NRMSE above `fit_nrmse`, the fit rule's threshold) or holds."""
    errors = {a: e for a, e in beyond_nrmse(diagonal, bounds).items() if np.isfinite(e)}
    head = "The article's second figure"
    if not errors:
        return head + ": the diagonal does not leave the training range."
    far = float(diagonal["x"].max()) if far is None else far
    said = _listing([f"{a} {e:.2g}" for a, e in errors.items()])
    text = f"{head}: beyond the training range (x up to {far:g}) the median model's NRMSE against {truth} is {said}. "
    broke = [a for a, e in errors.items() if e > fit_nrmse]
    held = [a for a in errors if a not in broke]
    if not held:
        return text + f"The imitation breaks down for every architecture (NRMSE above {fit_nrmse:g})."
    if not broke:
        return text + f"No architecture's imitation breaks down there (NRMSE at most {fit_nrmse:g})."
    return text + f"It breaks down for {_listing(broke)} (NRMSE above {fit_nrmse:g}) and holds for {_listing(held)}."


def horizon_caption(horizons: pd.DataFrame, tolerance: str) -> str:
    """How many models have a horizon, how many reach the cap, and the widest median per
    architecture, as the figure shows them."""
    seeds, has, capped = (int(horizons[c].sum()) for c in ("seeds", "with_horizon", "capped"))
    cap = float(horizons["cap"].max())
    best = horizons.sort_values("horizon_median", ascending=False, kind="stable").drop_duplicates("arch_label")
    widest = _listing([f"{r.arch_label} {r.horizon} (trained on {r.train_range})" for r in best.itertuples()])
    return (
        f"Extrapolation horizon: the largest widening of the training range on which a model stays within "
        f"{tolerance}, median over seeds with its 95% interval; ▲: median at the cap (≥ {cap:g}). {has} of {seeds} "
        f"models have a horizon, {capped} reach the cap. Widest median per architecture: {widest}."
    )
