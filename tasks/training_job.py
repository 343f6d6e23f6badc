"""One training bundle end to end: read its data windows, train, write weights, curves and
the bundle manifest (last). Runs inside a Ray task; callable directly in tests."""

from __future__ import annotations

import platform
import posixpath
import resource
import time
from typing import Any

import numpy as np
import pyarrow as pa

from tasks import architectures
from tasks.config import TrainingConfig
from tasks.datasets import DatasetSpec, complete_manifest, read_shards
from tasks.errors import CorruptArtifactError
from tasks.plan import Bundle
from tasks.storage import Store, file_info


def bundle_dir(bundle_id: str) -> str:
    return f"models/{bundle_id}"


def complete_bundle(store: Store, bundle_id: str) -> dict[str, Any] | None:
    return store.complete(bundle_dir(bundle_id))


def shard_windows(spec: DatasetSpec, window_rows: int) -> list[tuple[int, int]]:
    """Consecutive shard ranges [first, stop) of at most `window_rows` rows (≥ 1 shard)."""
    windows, first, rows = [], 0, 0
    for i in range(spec.n_shards):
        size = spec.shard_size(i)
        if i > first and rows + size > window_rows:
            windows.append((first, i))
            first, rows = i, 0
        rows += size
    windows.append((first, spec.n_shards))
    return windows


def train_and_store(
    store: Store,
    bundle: Bundle,
    training: TrainingConfig,
    specs: dict[str, DatasetSpec],
    device: str = "cpu",
    probe_rows: int = 0,
    placement: dict[str, Any] | None = None,
) -> dict[str, Any]:
    done = complete_bundle(store, bundle.bundle_id)
    if done is not None:
        return done  # a retried or repeated task: the work is already there
    from tasks import trainer  # TF import only inside the task

    arch = architectures.get(bundle.arch.arch)
    params = bundle.arch.params
    train_specs = [specs[d] for d in bundle.datasets]
    manifests = [_manifest(store, s) for s in train_specs]
    windows = shard_windows(train_specs[0], training.window_rows)
    window_rows = [sum(train_specs[0].shard_size(i) for i in range(a, b)) for a, b in windows]

    def load_window(w: int) -> np.ndarray:
        first, stop = windows[w]
        return np.stack([read_shards(store, m, first, stop) for m in manifests])

    # validation sets in the order of the training datasets: val[d] belongs to datasets[d]
    val_of = {m.train_dataset: m.val_dataset for m in bundle.models}
    val = np.stack([read_shards(store, _manifest(store, specs[val_of[d]])) for d in bundle.datasets])
    ds_index = [bundle.datasets.index(m.train_dataset) for m in bundle.models]

    probe_ids, probes, probe_index = _probe_sets(store, bundle, specs, probe_rows)

    started = time.time()
    out = trainer.train_bundle(
        arch,
        params,
        training,
        [m.seed for m in bundle.models],
        ds_index,
        window_rows,
        load_window,
        val,
        probes=probes,
        probe_index=probe_index,
    )
    directory = bundle_dir(bundle.bundle_id)
    weights = store.write_npz(posixpath.join(directory, "weights.npz"), out.weights)
    ids = [m.model_id for m in bundle.models]
    n_logs = len(out.log_steps)
    curves = pa.table(
        {
            "model_id": np.repeat(ids, n_logs),
            "step": np.tile(out.log_steps, len(ids)),
            "train_mse": out.train_mse.T.reshape(-1),
            "val_mse": out.val_mse.T.reshape(-1),
        }
    )
    curves_info = store.write_parquet(posixpath.join(directory, "curves.parquet"), curves)
    probes_info = store.write_parquet(
        posixpath.join(directory, "probes.parquet"),
        _probe_table(bundle, out, probe_ids, probes, probe_index),
    )
    manifest = {
        "kind": "bundle",
        "bundle_id": bundle.bundle_id,
        "arch": bundle.arch.arch,
        "params": params,
        "training": training.identity(),
        "members": [
            {
                "model_id": m.model_id,
                "seed": m.seed,
                "train_dataset": m.train_dataset,
                "diverged_step": int(out.diverged_step[i]),
                "selected_step": int(out.selected_step[i]),
            }
            for i, m in enumerate(bundle.models)
        ],
        "files": {"weights": vars(weights), "curves": vars(curves_info), "probes": vars(probes_info)},
        "seconds": out.seconds,
        "compile_seconds": out.compile_seconds,
        "model_steps_per_s": len(ids) * out.steady_steps_per_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # Linux: KiB
        "host": platform.node(),
        "device": device,
        "placement": placement or {},
        "started": started,
    }
    store.write_manifest(directory, manifest)  # last: the bundle is complete from here on
    return manifest


def _probe_sets(
    store: Store, bundle: Bundle, specs: dict[str, DatasetSpec], probe_rows: int
) -> tuple[list[str], np.ndarray | None, np.ndarray | None]:
    """The first `probe_rows` rows of every evaluation set of the bundle's members, and
    which of them each member watches ([K, E], −1 for none)."""
    if probe_rows <= 0:
        return [], None, None
    ids = list(dict.fromkeys(e.dataset_id for m in bundle.models for e in m.evals))
    if not ids:
        return [], None, None
    sets = []
    for d in ids:
        spec = specs[d]
        n_shards = min(spec.n_shards, -(-probe_rows // spec.shard_rows))  # only the shards the rows need
        sets.append(read_shards(store, _manifest(store, spec), 0, n_shards)[:probe_rows])
    rows = min(len(s) for s in sets)
    width = max(len(m.evals) for m in bundle.models)
    index = np.full((len(bundle.models), width), -1, np.int64)
    for k, m in enumerate(bundle.models):
        for e, ev in enumerate(m.evals):
            index[k, e] = ids.index(ev.dataset_id)
    return ids, np.stack([s[:rows] for s in sets]), index


def _probe_table(bundle: Bundle, out, ids: list[str], probes, index) -> pa.Table:
    """Long table: model × logged step × watched evaluation range → MSE, and the mean of
    (a·b)² over the watched rows, from which any ε's success threshold follows at reporting."""
    cols: dict[str, list] = {"model_id": [], "step": [], "eval_range": [], "mse": [], "y2_mean": []}
    if probes is not None:
        y2 = [float(np.mean((p[:, 0].astype(np.float64) * p[:, 1]) ** 2)) for p in probes]
        for k, m in enumerate(bundle.models):
            for e, ev in enumerate(m.evals):
                p = index[k, e]
                cols["model_id"] += [m.model_id] * len(out.log_steps)
                cols["step"] += out.log_steps.tolist()
                cols["eval_range"] += [ev.ranges.label()] * len(out.log_steps)
                cols["mse"] += out.probe_mse[:, k, e].tolist()
                cols["y2_mean"] += [y2[p]] * len(out.log_steps)
    schema = pa.schema(
        [
            ("model_id", pa.string()),
            ("step", pa.int64()),
            ("eval_range", pa.string()),
            ("mse", pa.float64()),
            ("y2_mean", pa.float64()),
        ]
    )
    return pa.table(cols, schema=schema)


def _manifest(store: Store, spec: DatasetSpec) -> dict[str, Any]:
    m = complete_manifest(store, spec)
    if m is None:
        raise CorruptArtifactError(f"dataset {store.display(spec.directory)} is incomplete or missing")
    return m


def load_bundle_weights(store: Store, manifest: dict[str, Any]) -> dict[str, np.ndarray]:
    return store.read_npz(manifest["files"]["weights"]["path"], expected=file_info(manifest["files"]["weights"]))
