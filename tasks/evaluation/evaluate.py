"""Evaluate K trained models (pure: weights and test inputs in, tables out).

Each model is measured on the test set of every evaluation range of its ladder (y from its
target and operation, with the model's own layout) and, where the operands are the inputs,
on the article's diagonal a = b = x (y from the operation), split into segments. Success
thresholds come from the study's rule (tasks.evaluation.success). Reading weights and test
sets, and writing the tables, is tasks.jobs.evaluate. A change to what this writes for the
same weights bumps EVALUATION_VERSION (tasks.evaluation.job).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from tasks.core.ranges import Ranges, coverage
from tasks.evaluation.job import EvalJob, EvalModel
from tasks.evaluation.metrics import diagonal_grid, error_metrics
from tasks.evaluation.success import REGISTRY as RULES
from tasks.model.architecture import Architecture
from tasks.model.inference import predict


def evaluate_models(
    arch: Architecture,
    params: dict[str, Any],
    weights: dict[str, np.ndarray],
    job: EvalJob,
    test_sets: Mapping[str, np.ndarray],
) -> tuple[pa.Table, pa.Table]:
    """(metrics, diagonal) tables for the models of `job`, whose stacked weights are
    `weights` (member k = job.models[k]); `test_sets[dataset_id]` are inputs [n, N]."""
    sparsity = arch.sparsity_error(params, weights)
    layouts = np.stack([m.target.target.layout(m.target.params, m.seed) for m in job.models])
    rows = _square_rows(arch, params, weights, job, test_sets, layouts)
    x, y, diag_pred, diag_rows = _diagonal(arch, params, weights, job, layouts)
    rows += diag_rows
    order = {m.model_id: i for i, m in enumerate(job.models)}
    for r in rows:
        r["sparsity_error"] = float(sparsity[order[r["model_id"]]]) if sparsity is not None else float("nan")
    diagonal = pa.table(
        {
            "model_id": np.repeat([m.model_id for m in job.models], len(x)),
            "x": np.tile(x, len(job.models)),
            "y_true": y.reshape(-1),
            "y_pred": diag_pred.reshape(-1).astype(np.float64),
        }
    )
    return pa.Table.from_pylist(rows), diagonal


def _square_rows(arch, params, weights, job: EvalJob, test_sets, layouts: np.ndarray) -> list[dict[str, Any]]:
    """One row per model × evaluation range; each test set is predicted once for every
    member that is evaluated on it (members may differ in operation where y is stored)."""
    rule = RULES[job.success.rule]
    by_dataset: dict[str, list[int]] = {}
    for i, m in enumerate(job.models):
        for e in m.evals:
            by_dataset.setdefault(e.dataset_id, []).append(i)
    rows = []
    for dataset_id, members in by_dataset.items():
        x = test_sets[dataset_id]
        e0 = next(e for e in job.models[members[0]].evals if e.dataset_id == dataset_id)
        pred = predict(arch, params, {k: v[members] for k, v in weights.items()}, x)
        cached: dict[Any, tuple[np.ndarray, float]] = {}  # y and threshold per target, where shared by its models
        for row, i in enumerate(members):
            m, layout = job.models[i], layouts[i]
            target = m.target
            key = target if not target.target.per_model(target.params) else (target, i)
            if key not in cached:
                y = target.target.y(target.params, x, layout)
                cached[key] = (y, rule.threshold(target, e0.ranges, job.distribution, job.success, x, layout))
            y, threshold = cached[key]
            e = next(e for e in m.evals if e.dataset_id == dataset_id)
            rows.append(_row(m, "square", e.ranges, e.coverage, y, pred[row], threshold))
    return rows


def _diagonal(
    arch, params, weights, job: EvalJob, layouts
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """The grid x, each model's y there [K, points] (its operation's), predictions
    model(x, …, x) [K, points] and one row per model × segment (targets whose operands are
    the inputs; none otherwise)."""
    if job.diagonal is None:
        empty = np.zeros((len(job.models), 0))
        return np.zeros(0), empty, empty, []
    x = diagonal_grid(job.diagonal.lo, job.diagonal.hi, job.diagonal.points)
    grid, _ = job.models[0].target.target.diagonal(job.models[0].target.params, x)  # the same inputs for all
    pred = predict(arch, params, weights, grid)
    y = np.stack([m.target.target.diagonal(m.target.params, x)[1] for m in job.models])
    rule = RULES[job.success.rule]
    rows = []
    for i, m in enumerate(job.models):
        for seg in job.diagonal.segments:
            mask = seg.contains(x)
            if mask.any():
                threshold = rule.nearly_perfect_mse(m.target, grid[mask], layouts[i], job.success.epsilon)
                cov = line_coverage(m.train_range, seg)
                rows.append(_row(m, "diagonal", seg, cov, y[i][mask], pred[i][mask], threshold))
    return x, y, pred, rows


def line_coverage(train: Ranges, segment: Ranges) -> float:
    """Fraction of a diagonal segment inside the training range (a 1-D coverage)."""
    return coverage(train, segment) ** 0.5


def _row(
    m: EvalModel, kind: str, ranges: Ranges, cov: float, y: np.ndarray, pred: np.ndarray, threshold: float
) -> dict[str, Any]:
    metrics = error_metrics(y, pred)
    return {
        "model_id": m.model_id,
        "eval_kind": kind,
        "eval_range": ranges.label(),
        "eval_lo": ranges.lo,
        "eval_hi": ranges.hi,
        "coverage": cov,
        "n": len(y),
        **metrics,
        "threshold": threshold,
        "success": bool(metrics["mse"] < threshold),  # NaN/inf MSE never succeeds
    }
