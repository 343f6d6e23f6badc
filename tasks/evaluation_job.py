"""Evaluate trained models over their evaluation ranges and the article's diagonal; write
metrics and diagonal predictions, manifest last. Runs inside a Ray task."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from tasks import architectures
from tasks.config import DiagonalConfig, EvaluationConfig
from tasks.datasets import DatasetSpec, complete_manifest, read_shards
from tasks.errors import CorruptArtifactError
from tasks.ids import content_id
from tasks.metrics import diagonal_grid, error_metrics, near_perfect_mse
from tasks.plan import ModelSpec
from tasks.ranges import Ranges, coverage
from tasks.storage import Store
from tasks.training_job import load_bundle_weights


@dataclass(frozen=True)
class EvalJob:
    eval_id: str
    bundle_id: str
    models: tuple[ModelSpec, ...]
    diagonal: DiagonalConfig
    epsilon: float  # relative input perturbation of the success threshold


def make_eval_job(bundle_id: str, models: tuple[ModelSpec, ...], evaluation: EvaluationConfig) -> EvalJob:
    diagonal = evaluation.diagonal
    identity = {
        "bundle": bundle_id,
        "models": [[m.model_id, [[e.dataset_id, e.ranges.to_json()] for e in m.evals]] for m in models],
        "diagonal": [diagonal.lo, diagonal.hi, diagonal.points, [s.to_json() for s in diagonal.segments]],
        "epsilon": evaluation.success_epsilon,
    }
    return EvalJob(content_id("ev", identity), bundle_id, models, diagonal, evaluation.success_epsilon)


def eval_dir(eval_id: str) -> str:
    return f"evals/{eval_id}"


def complete_eval(store: Store, eval_id: str) -> dict[str, Any] | None:
    return store.complete(eval_dir(eval_id))


def evaluate_and_store(
    store: Store, job: EvalJob, specs: dict[str, DatasetSpec], placement: dict[str, Any] | None = None
) -> dict[str, Any]:
    done = complete_eval(store, job.eval_id)
    if done is not None:
        return done
    from tasks import trainer

    bundle = store.read_manifest(f"models/{job.bundle_id}")
    if bundle is None:
        raise CorruptArtifactError(f"bundle {job.bundle_id} has no manifest; it must be trained first")
    member_index = {m["model_id"]: i for i, m in enumerate(bundle["members"])}
    all_weights = load_bundle_weights(store, bundle)
    idx = np.array([member_index[m.model_id] for m in job.models])
    weights = {k: v[idx] for k, v in all_weights.items()}
    arch = architectures.get(bundle["arch"])
    params = bundle["params"]
    sparsity = arch.sparsity_error(params, weights)

    rows: list[dict[str, Any]] = []
    by_dataset: dict[str, list[int]] = {}
    for i, m in enumerate(job.models):
        for e in m.evals:
            by_dataset.setdefault(e.dataset_id, []).append(i)
    for dataset_id, members in by_dataset.items():
        manifest = complete_manifest(store, specs[dataset_id])
        if manifest is None:
            raise CorruptArtifactError(f"test dataset {dataset_id} is incomplete")
        data = read_shards(store, manifest)
        threshold = near_perfect_mse(data[:, 0], data[:, 1], job.epsilon)
        sub = {k: v[members] for k, v in weights.items()}
        pred = trainer.predict(arch, params, sub, data[:, 0], data[:, 1])
        for row, i in enumerate(members):
            m = job.models[i]
            e = next(e for e in m.evals if e.dataset_id == dataset_id)
            rows.append(_row(m, "square", e.ranges, e.coverage, data[:, 2], pred[row], threshold))

    x = diagonal_grid(job.diagonal.lo, job.diagonal.hi, job.diagonal.points)
    diag_pred = trainer.predict(arch, params, weights, x, x)
    y = (x.astype(np.float32).astype(np.float64)) ** 2
    for i, m in enumerate(job.models):
        for seg in job.diagonal.segments:
            mask = seg.contains(x)
            if mask.any():
                threshold = near_perfect_mse(x[mask], x[mask], job.epsilon)
                cov = _line_coverage(m.train_range, seg)
                rows.append(_row(m, "diagonal", seg, cov, y[mask], diag_pred[i][mask], threshold))
    order = {m.model_id: i for i, m in enumerate(job.models)}
    for r in rows:
        r["sparsity_error"] = float(sparsity[order[r["model_id"]]]) if sparsity is not None else float("nan")

    metrics = pa.Table.from_pylist(rows)
    diagonal = pa.table(
        {
            "model_id": np.repeat([m.model_id for m in job.models], len(x)),
            "x": np.tile(x, len(job.models)),
            "y_true": np.tile(y, len(job.models)),
            "y_pred": diag_pred.reshape(-1).astype(np.float64),
        }
    )
    directory = eval_dir(job.eval_id)
    files = {
        "metrics": vars(store.write_parquet(posixpath.join(directory, "metrics.parquet"), metrics)),
        "diagonal": vars(store.write_parquet(posixpath.join(directory, "diagonal.parquet"), diagonal)),
    }
    manifest = {
        "kind": "evaluation",
        "eval_id": job.eval_id,
        "bundle_id": job.bundle_id,
        "models": [m.model_id for m in job.models],
        "files": files,
        "placement": placement or {},
    }
    store.write_manifest(directory, manifest)
    return manifest


def _line_coverage(train: Ranges, segment: Ranges) -> float:
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
