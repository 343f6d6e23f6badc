"""One evaluation: a bundle's weights and its models' test sets in, metrics, diagonal and
horizons tables out (tasks.evaluation.evaluate), manifest last."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from tasks.data.spec import DatasetSpec
from tasks.evaluation.job import EVALUATION_VERSION, EvalJob
from tasks.model import registry
from tasks.store import catalog
from tasks.store.catalog import BundleManifest, EvalManifest
from tasks.store.storage import Store


def evaluate_job(
    store: Store,
    job: EvalJob,
    specs: dict[str, DatasetSpec],
    bundle: BundleManifest | None = None,
    weights: dict[str, np.ndarray] | None = None,
    placement: dict[str, Any] | None = None,
) -> tuple[EvalManifest, dict[str, pa.Table] | None]:
    """The evaluation's manifest and, when evaluated now, its tables (metrics, diagonal,
    horizons: None where the study searches none);
    `bundle` and its members' `weights` when the caller holds them (just trained), else read."""
    done = catalog.EVALUATIONS.current(store, job.eval_id, EVALUATION_VERSION)
    if done is not None:
        return done, None
    from tasks.evaluation.evaluate import evaluate_horizons, evaluate_models  # TF import only inside the task

    bundle = bundle or catalog.require_bundle(store, job.bundle_id)
    member_index = {m.model_id: i for i, m in enumerate(bundle.members)}
    idx = np.array([member_index[m.model_id] for m in job.models])
    every = len(idx) == len(bundle.members) and (idx == np.arange(len(idx))).all()
    weights = weights if weights is not None else catalog.read_weights(store, bundle)
    weights = weights if every else {k: v[idx] for k, v in weights.items()}
    test_ids = dict.fromkeys(e.dataset_id for m in job.models for e in m.evals)
    test_sets = {d: catalog.read_dataset(store, specs[d]) for d in test_ids}
    arch = registry.get(bundle.arch)
    metrics, diagonal = evaluate_models(arch, bundle.params, weights, job, test_sets)
    horizons = evaluate_horizons(arch, bundle.params, weights, job)  # None: the study searches none
    tables = {"metrics": metrics, "diagonal": diagonal, "horizons": horizons}
    files = {
        name: store.write_parquet(catalog.eval_file(job.eval_id, f"{name}.parquet"), table)
        for name, table in tables.items()
        if table is not None
    }
    models = tuple(m.model_id for m in job.models)
    manifest = EvalManifest(job.eval_id, job.bundle_id, models, files, EVALUATION_VERSION, placement or {})
    return catalog.EVALUATIONS.write(store, manifest, job.eval_id), tables
