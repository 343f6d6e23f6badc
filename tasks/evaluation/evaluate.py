"""Evaluate K trained models (pure: weights and test rows in, tables out).

Each model is measured on the test set of every evaluation range of its ladder and on the
article's diagonal a = b = x, split into segments. Reading weights and test sets, and
writing the tables, is tasks.jobs.evaluate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from tasks.core.ranges import Ranges, coverage
from tasks.evaluation.metrics import diagonal_grid, error_metrics, near_perfect_mse
from tasks.model.architecture import Architecture
from tasks.model.inference import predict
from tasks.study.bundles import EvalJob
from tasks.study.plan import ModelSpec


def evaluate_models(
    arch: Architecture,
    params: dict[str, Any],
    weights: dict[str, np.ndarray],
    job: EvalJob,
    test_sets: Mapping[str, np.ndarray],
) -> tuple[pa.Table, pa.Table]:
    """(metrics, diagonal) tables for the models of `job`, whose stacked weights are
    `weights` (member k = job.models[k]); `test_sets[dataset_id]` are rows [n, 3] (a, b, y)."""
    sparsity = arch.sparsity_error(params, weights)
    rows = _square_rows(arch, params, weights, job, test_sets)
    x, diag_pred, diag_rows = _diagonal(arch, params, weights, job)
    rows += diag_rows
    order = {m.model_id: i for i, m in enumerate(job.models)}
    for r in rows:
        r["sparsity_error"] = float(sparsity[order[r["model_id"]]]) if sparsity is not None else float("nan")
    y = x.astype(np.float32).astype(np.float64) ** 2
    diagonal = pa.table(
        {
            "model_id": np.repeat([m.model_id for m in job.models], len(x)),
            "x": np.tile(x, len(job.models)),
            "y_true": np.tile(y, len(job.models)),
            "y_pred": diag_pred.reshape(-1).astype(np.float64),
        }
    )
    return pa.Table.from_pylist(rows), diagonal


def _square_rows(arch, params, weights, job: EvalJob, test_sets) -> list[dict[str, Any]]:
    """One row per model × evaluation range; each test set is predicted once for every
    member that is evaluated on it."""
    by_dataset: dict[str, list[int]] = {}
    for i, m in enumerate(job.models):
        for e in m.evals:
            by_dataset.setdefault(e.dataset_id, []).append(i)
    rows = []
    for dataset_id, members in by_dataset.items():
        data = test_sets[dataset_id]
        threshold = near_perfect_mse(data[:, 0], data[:, 1], job.epsilon)
        pred = predict(arch, params, {k: v[members] for k, v in weights.items()}, data[:, :2])
        for row, i in enumerate(members):
            m = job.models[i]
            e = next(e for e in m.evals if e.dataset_id == dataset_id)
            rows.append(_row(m, "square", e.ranges, e.coverage, data[:, 2], pred[row], threshold))
    return rows


def _diagonal(arch, params, weights, job: EvalJob) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """The grid x, predictions model(x, x) [K, points] and one row per model × segment."""
    x = diagonal_grid(job.diagonal.lo, job.diagonal.hi, job.diagonal.points)
    pred = predict(arch, params, weights, np.stack([x, x], axis=1))
    y = x.astype(np.float32).astype(np.float64) ** 2
    rows = []
    for i, m in enumerate(job.models):
        for seg in job.diagonal.segments:
            mask = seg.contains(x)
            if mask.any():
                threshold = near_perfect_mse(x[mask], x[mask], job.epsilon)
                cov = line_coverage(m.train_range, seg)
                rows.append(_row(m, "diagonal", seg, cov, y[mask], pred[i][mask], threshold))
    return x, pred, rows


def line_coverage(train: Ranges, segment: Ranges) -> float:
    """Fraction of a diagonal segment inside the training range (a 1-D coverage)."""
    return coverage(train, segment) ** 0.5


def _row(
    m: ModelSpec, kind: str, ranges: Ranges, cov: float, y: np.ndarray, pred: np.ndarray, threshold: float
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
