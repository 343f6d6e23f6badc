"""Evaluate K trained models (pure: weights and test inputs in, tables out).

Each model is measured on the test set of every evaluation range of its ladder (y from its
target and operation, with the model's own layout) and, where the operands are the inputs,
on the article's diagonal a = b = x (y from the operation), split into segments; and, when the
study asks for it, its extrapolation horizon (`evaluate_horizons`, tasks.evaluation.horizon).
Success thresholds come from the study's rule (tasks.evaluation.success): `threshold` and
`success`, and for each further rule it asks for (`success.also`) `threshold_<rule>` and
`success_<rule>`. Reading weights and test
sets, and writing the tables, is tasks.jobs.evaluate. A change to what this writes for the
same weights bumps EVALUATION_VERSION (tasks.evaluation.job).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from tasks.core.ranges import Ranges, coverage
from tasks.evaluation import horizon
from tasks.evaluation.job import EvalJob
from tasks.evaluation.metrics import ERROR_METRICS, diagonal_grid, error_metrics_rows
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
    `weights` (member k = job.models[k]); `test_sets[dataset_id]` are inputs [n, N].

    Vectorized over the members: the members that share their evaluation sets are predicted
    on all of them and on the diagonal's grid in one call, and each metric is computed for
    all of them at once; rows come in the order of the original one-model-at-a-time loop
    (per test set in first-use order, its members in order; then each member's segments)."""
    sparsity = arch.sparsity_error(params, weights)
    k = len(job.models)
    layouts = _layouts(job)
    grid_x, grid = _diagonal_inputs(job)
    square, diag_pred = _predictions(arch, params, weights, job, test_sets, grid)
    columns = _square_columns(job, test_sets, square, layouts)
    diag_y = np.zeros((k, 0))
    if grid is not None:
        lines = {t: t.target.diagonal(t.params, grid_x)[1] for t in dict.fromkeys(m.target for m in job.models)}
        diag_y = np.stack([lines[m.target] for m in job.models])
        _append(columns, _diagonal_columns(job, grid_x, grid, diag_y, diag_pred, layouts))
    member = columns.pop("member", np.zeros(0, np.int64))
    no_sparsity = np.full(len(member), np.nan)
    columns["sparsity_error"] = no_sparsity if sparsity is None else np.asarray(sparsity, np.float64)[member]
    schema = metrics_schema(job)
    columns = {name: columns.get(name, []) for name in schema.names}
    diagonal = pa.table(
        {
            "model_id": np.repeat([m.model_id for m in job.models], len(grid_x)),
            "x": np.tile(grid_x, k),
            "y_true": diag_y.reshape(-1),
            "y_pred": diag_pred.reshape(-1).astype(np.float64),
        }
    )
    return pa.table(columns, schema=schema), diagonal


def evaluate_horizons(
    arch: Architecture, params: dict[str, Any], weights: dict[str, np.ndarray], job: EvalJob
) -> pa.Table | None:
    """The extrapolation horizon of each model of `job` (one row per model), or None when the
    study searches none."""
    if job.horizon is None:
        return None
    layouts = np.stack([m.target.target.layout(m.target.params, m.seed) for m in job.models])
    return horizon.horizons(job, layouts, lambda x: predict(arch, params, weights, x))


METRICS_SCHEMA = pa.schema(
    [
        ("model_id", pa.string()),
        ("eval_kind", pa.string()),
        ("eval_range", pa.string()),
        ("eval_lo", pa.float64()),
        ("eval_hi", pa.float64()),
        ("coverage", pa.float64()),
        ("n", pa.int64()),
        *((name, pa.float64()) for name in ERROR_METRICS),
        ("threshold", pa.float64()),
        ("success", pa.bool_()),
        ("sparsity_error", pa.float64()),
    ]
)


def metrics_schema(job: EvalJob) -> pa.Schema:
    """METRICS_SCHEMA with every metric `error_metrics_rows` returns (a metric added there is a
    column without further edits) and, after `success`, `threshold_<rule>` and `success_<rule>`
    for each further rule the study asks for (evaluation.success.also)."""
    names = tuple(error_metrics_rows(np.ones(1), np.ones((1, 1))))
    fields = [f for f in METRICS_SCHEMA if f.name not in ERROR_METRICS]
    at = next(i for i, f in enumerate(fields) if f.name == "n") + 1
    fields[at:at] = [pa.field(name, pa.float64()) for name in names]
    at = next(i for i, f in enumerate(fields) if f.name == "success") + 1
    for name, _ in job.success.extra():
        fields[at:at] = [pa.field(f"threshold_{name}", pa.float64()), pa.field(f"success_{name}", pa.bool_())]
        at += 2
    return pa.schema(fields)


def _layouts(job: EvalJob) -> np.ndarray:
    """Each member's layout of its target [K, ...]: per member where it depends on the seed,
    else one per target."""
    by_target: dict[Any, list[int]] = {}
    for i, m in enumerate(job.models):
        by_target.setdefault(m.target, []).append(i)
    out = None
    for target, members in by_target.items():
        if target.target.per_model(target.params):
            values = target.layouts([job.models[i].seed for i in members])
        else:
            values = np.broadcast_to(
                target.target.layout(target.params, 0), (len(members), *target.target.layout(target.params, 0).shape)
            )
        if out is None:
            out = np.empty((len(job.models), *values.shape[1:]), values.dtype)
        out[members] = values
    return out


def _diagonal_inputs(job: EvalJob) -> tuple[np.ndarray, np.ndarray | None]:
    """The grid x and the inputs model(x, …, x) (the same for every member; None: no diagonal)."""
    if job.diagonal is None:
        return np.zeros(0), None
    x = diagonal_grid(job.diagonal.lo, job.diagonal.hi, job.diagonal.points)
    target = job.models[0].target
    return x, target.target.diagonal(target.params, x)[0]


def _predictions(
    arch, params, weights, job: EvalJob, test_sets, grid: np.ndarray | None
) -> tuple[dict[tuple[int, str], np.ndarray], np.ndarray]:
    """Predictions of every member on each of its test sets ({(member, dataset): [n]}) and on
    the diagonal grid ([K, points]): one call per group of members with the same test sets."""
    k = len(job.models)
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, m in enumerate(job.models):
        groups.setdefault(tuple(dict.fromkeys(e.dataset_id for e in m.evals)), []).append(i)
    square: dict[tuple[int, str], np.ndarray] = {}
    diag = np.zeros((k, 0 if grid is None else len(grid)), np.float32)
    for datasets, members in groups.items():
        parts = [np.asarray(test_sets[d], np.float32) for d in datasets]
        if grid is not None:
            parts.append(np.asarray(grid, np.float32))
        x = np.concatenate(parts) if parts else np.zeros((0, job.models[0].target.n_inputs), np.float32)
        pred = predict(arch, params, {name: v[members] for name, v in weights.items()}, x)
        bounds = np.cumsum([0] + [len(p) for p in parts])
        for j, d in enumerate(datasets):
            for row, i in enumerate(members):
                square[(i, d)] = pred[row, bounds[j] : bounds[j + 1]]
        if grid is not None:
            diag[members] = pred[:, bounds[-2] :]
    return square, diag


def _square_columns(job: EvalJob, test_sets, square, layouts: np.ndarray) -> dict[str, np.ndarray]:
    """Columns of the square rows: per test set (first-use order), its members in order; each
    test set's y and threshold computed once per target its members share."""
    rule = RULES[job.success.rule]
    by_dataset: dict[str, list[int]] = {}
    for i, m in enumerate(job.models):
        for e in m.evals:
            by_dataset.setdefault(e.dataset_id, []).append(i)
    columns: dict[str, list] = {}
    per_model = {t: t.target.per_model(t.params) for t in dict.fromkeys(m.target for m in job.models)}
    for dataset_id, members in by_dataset.items():
        x = test_sets[dataset_id]
        e0 = next(e for e in job.models[members[0]].evals if e.dataset_id == dataset_id)
        cached: dict[Any, tuple[np.ndarray, float, dict[str, float]]] = {}  # y and thresholds per target, where shared
        ys, thresholds, evals = [], [], []
        also: dict[str, list[float]] = {name: [] for name, _ in job.success.extra()}
        for i in members:
            m, layout = job.models[i], layouts[i]
            target = m.target
            key = target if not per_model[target] else (target, i)
            if key not in cached:
                y = target.target.y(target.params, x, layout)
                threshold = rule.threshold(target, e0.ranges, job.distribution, job.success, x, layout)
                further = {
                    name: RULES[name].threshold(target, e0.ranges, job.distribution, success, x, layout)
                    for name, success in job.success.extra()
                }
                cached[key] = (y, threshold, further)
            y, threshold, further = cached[key]
            ys.append(y)
            thresholds.append(threshold)
            for name, t in further.items():
                also[name].append(t)
            evals.append(next(e for e in m.evals if e.dataset_id == dataset_id))
        pred = np.stack([square[(i, dataset_id)] for i in members])
        y = ys[0] if len(cached) == 1 else np.stack(ys)
        coverages = [e.coverage for e in evals]
        _append(columns, _rows(job, members, "square", evals, coverages, y, pred, thresholds, also))
    return columns


def _diagonal_columns(job: EvalJob, x, grid, y, pred, layouts) -> dict[str, np.ndarray]:
    """Columns of the diagonal rows: each member's segments (targets whose operands are the
    inputs); thresholds and coverage computed once per distinct target and training range."""
    rule = RULES[job.success.rule]
    segments = [(seg, seg.contains(x)) for seg in job.diagonal.segments]
    segments = [(seg, mask) for seg, mask in segments if mask.any()]
    if not segments:
        return {}
    k = len(job.models)
    thresholds = np.empty((k, len(segments)))
    extra = job.success.extra()
    also = {name: np.empty((k, len(segments))) for name, _ in extra}
    coverages = np.empty((k, len(segments)))
    cached: dict[Any, float] = {}
    per_model = {t: t.target.per_model(t.params) for t in dict.fromkeys(m.target for m in job.models)}
    covered = {
        r: [line_coverage(r, seg) for seg, _ in segments] for r in dict.fromkeys(m.train_range for m in job.models)
    }
    for i, m in enumerate(job.models):
        target = m.target
        for s, (_, mask) in enumerate(segments):
            key = (target, s, i if per_model[target] else None)
            if key not in cached:
                cached[key] = rule.nearly_perfect_mse(target, grid[mask], layouts[i], job.success.epsilon)
                for name, success in extra:
                    further = RULES[name].nearly_perfect_mse(target, grid[mask], layouts[i], success.epsilon)
                    cached[(name, *key)] = further
            thresholds[i, s] = cached[key]
            for name, _ in extra:
                also[name][i, s] = cached[(name, *key)]
        coverages[i] = covered[m.train_range]
    per_segment = [
        _rows(
            job,
            list(range(k)),
            "diagonal",
            [seg] * k,
            coverages[:, s],
            y[:, mask],
            pred[:, mask],
            thresholds[:, s],
            {name: t[:, s] for name, t in also.items()},
        )
        for s, (seg, mask) in enumerate(segments)
    ]
    order = np.arange(k * len(segments)).reshape(len(segments), k).T.reshape(-1)  # member-major, as one at a time
    return {name: np.concatenate([p[name] for p in per_segment])[order] for name in per_segment[0]}


def line_coverage(train: Ranges, segment: Ranges) -> float:
    """Fraction of a diagonal segment inside the training range (a 1-D coverage)."""
    return coverage(train, segment) ** 0.5


def _rows(
    job: EvalJob, members, kind: str, ranges, cov, y, pred, thresholds, also: Mapping[str, Any] | None = None
) -> dict[str, np.ndarray]:
    """Columns of one row per member (`ranges`, `cov`, `thresholds`: one each; `also`: the
    thresholds of further rules, each with its own columns), its errors computed for all
    members at once."""
    metrics = error_metrics_rows(y, pred)
    thresholds = np.asarray(thresholds, np.float64)
    ranges = [e.ranges if hasattr(e, "ranges") else e for e in ranges]
    labels = {r: r.label() for r in dict.fromkeys(ranges)}
    extra = {}
    for name, t in (also or {}).items():
        t = np.asarray(t, np.float64)
        extra |= {f"threshold_{name}": t, f"success_{name}": metrics["mse"] < t}
    return {
        "member": np.asarray(members, np.int64),
        "model_id": np.array([job.models[i].model_id for i in members], dtype=object),
        "eval_kind": np.full(len(members), kind, dtype=object),
        "eval_range": np.array([labels[r] for r in ranges], dtype=object),
        "eval_lo": np.array([r.lo for r in ranges], np.float64),
        "eval_hi": np.array([r.hi for r in ranges], np.float64),
        "coverage": np.asarray(cov, np.float64),
        "n": np.full(len(members), pred.shape[1], np.int64),
        **metrics,
        "threshold": thresholds,
        "success": metrics["mse"] < thresholds,  # NaN/inf MSE never succeeds
        **extra,
    }


def _append(columns: dict[str, Any], more: dict[str, np.ndarray]) -> None:
    for name, values in more.items():
        columns[name] = np.concatenate([columns[name], values]) if name in columns else values
