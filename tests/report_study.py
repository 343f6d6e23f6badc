"""A `quick`-like study's tables, constructed (no Ray, no training): its three architectures with
the labels `quick` gives them, training ranges listed out of numeric order ([0,2], [0,10], [0,1]),
the ladder 1, 2, 5, 10, 100, curves, the diagonal and horizons, errors that grow with the
widening as extrapolation errors do. The report tests draw it like the real one."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from tasks.core.ranges import Ranges, coverage
from tasks.report.aggregates import Summary, summarise
from tasks.report.summaries import fit_flags

# label → (registry name, in-range NRMSE, growth p: NRMSE(s) = base·s^p)
ARCHS = {
    "mlp(activation=relu hidden=80)": ("mlp", 0.004, 2.0),
    "mlp_product_feature(activation=relu hidden=80)": ("mlp_product_feature", 0.002, 0.5),
    "product_unit [learning_rate=0.01 loss_reduction=mean optimizer=adam]": ("product_unit", 1e-6, 0.0),
}
TRAINS = ((0.0, 2.0), (0.0, 10.0), (0.0, 1.0))  # as a config might list them: not in numeric order
SCALES = (1.0, 2.0, 5.0, 10.0, 100.0)
SEGMENTS = ((0.0, 1.0), (1.0, 5.0), (5.0, 10.0))
STEPS = (1000, 2000, 3000)
TOLERANCE, CAP = 0.01, 100.0
HORIZON = {"tolerance": TOLERANCE, "max_scale": CAP, "rounds": 8, "rows": 1000, "widen": "outward"}


def horizon_of(base: float, growth: float) -> tuple[float, str]:
    """The horizon of NRMSE(s) = base·s^growth at TOLERANCE, capped at CAP."""
    if not base <= TOLERANCE:
        return math.nan, "none"
    if growth == 0 or (TOLERANCE / base) ** (1 / growth) >= CAP:
        return CAP, "capped"
    return (TOLERANCE / base) ** (1 / growth), "within"


def study_tables(seeds: int = 3, bases: dict[str, float] | None = None) -> dict[str, dict[str, pd.DataFrame]]:
    """Per architecture label: its study tables (metrics, models, curves, probes, diagonal);
    `bases` replaces an architecture's in-range NRMSE (seed 2 of the MLP on [0,1] misses its fit)."""
    rng = np.random.default_rng(3)
    out = {}
    for label, (arch, base, growth) in ARCHS.items():
        base = (bases or {}).get(label, base)
        metrics, models, curves, diagonal = [], [], [], []
        for lo, hi in TRAINS:
            train = Ranges.of((lo, hi))
            for seed in range(seeds):
                b = base * rng.uniform(0.7, 1.3)
                if arch == "mlp" and hi == 1.0 and seed == 2:
                    b = 0.05  # a seed that does not fit
                mid = f"m-{arch}-{hi:g}-{seed}"
                ident = {"model_id": mid, "arch": arch, "arch_label": label, "seed": seed, "train_range": train.label()}
                for s in SCALES:
                    r = train.widened(s)
                    nrmse = b * s**growth
                    rms = (r.hi**2) / 3
                    metrics.append(
                        ident
                        | {"eval_kind": "square", "eval_range": r.label(), "coverage": coverage(train, r)}
                        | {"rmse": nrmse * rms, "nrmse": nrmse, "mse": (nrmse * rms) ** 2}
                        | {"threshold": (2e-5 * rms) ** 2}
                    )
                for slo, shi in SEGMENTS:
                    seg = Ranges.of((slo, shi))
                    nrmse = b * max(1.0, shi / hi) ** growth
                    metrics.append(
                        ident
                        | {"eval_kind": "diagonal", "eval_range": seg.label(), "coverage": coverage(train, seg) ** 0.5}
                        | {"rmse": nrmse * shi**2, "nrmse": nrmse, "mse": (nrmse * shi**2) ** 2, "threshold": 1e-8}
                    )
                scale, status = horizon_of(b, growth)
                at = train.widened(scale) if status != "none" else None
                models.append(
                    ident
                    | {"train_lo": lo, "train_hi": hi, "diverged": False, "diverged_step": -1, "bundle_id": f"b-{arch}"}
                    | {"bundle_model_steps_per_s": 1000.0, "bundle_seconds": 10.0}
                    | {"horizon_scale": scale, "horizon_status": status, "horizon_cap": CAP}
                    | {"horizon_coverage": coverage(train, at) if at else math.nan, "horizon_tolerance": "NRMSE ≤ 0.01"}
                )
                for step in STEPS:
                    mse = b**2 * 3000 / step
                    curves.append(ident | {"step": step, "train_mse": mse, "val_mse": mse * 1.1})
                x = np.linspace(0.05, 9.95, 100)
                y_pred = x * x * (1 + b * np.maximum(1.0, x / hi) ** growth * rng.choice([-1, 1], len(x)))
                diagonal += [ident | {"x": v, "y_true": v * v, "y_pred": p} for v, p in zip(x, y_pred)]
        frame = pd.DataFrame(metrics)
        frame = frame.assign(success=frame["mse"] < frame["threshold"], sparsity_error=np.nan, diverged=False)
        fits = fit_flags(frame, 0.01)
        out[label] = {
            "metrics": frame.merge(fits[["model_id", "fit"]], on="model_id"),
            "models": pd.DataFrame(models).merge(fits, on="model_id"),
            "curves": pd.DataFrame(curves),
            "probes": pd.DataFrame(columns=["model_id", "eval_range", "step", "mse", "threshold"]),
            "diagonal": pd.DataFrame(diagonal),
        }
    return out


def summary_and_info(seeds: int = 3, bases: dict[str, float] | None = None) -> tuple[Summary, dict[str, Any]]:
    """The study's aggregates (a reduce per architecture, as collection makes them) and the run
    information the report reads."""
    parts = study_tables(seeds, bases)
    summary = Summary.combine([summarise(tables, "[0,1]") for tables in parts.values()])
    n = sum(len(t["models"]) for t in parts.values())
    info = {
        "config": "quick-like",
        "description": "A constructed coverage study shaped like quick.",
        "config_resolved": {
            "name": "quick-like",
            "description": "A constructed coverage study shaped like quick.",
            "targets": [{"name": "inputs", "params_json": "{}"}],
            "evaluation": {"fit_nrmse": 0.01, "horizon": HORIZON | {"ladder": list(SCALES)}},
        },
        "n_models": n,
        "n_trained": n,
        "n_bundles": len(parts),
        "steps": STEPS[-1],
        "seconds": 30.0,
        "reference_range": ["[0,1]", 0.0, 1.0],
    }
    return summary, info
