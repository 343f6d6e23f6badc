"""One training bundle: read its data windows, train (tasks.model.trainer) with periodic
checkpoints (tasks.jobs.checkpoints), write weights, curves and probe curves, then the bundle
manifest (last), then drop its checkpoints."""

from __future__ import annotations

import os
import platform
import resource
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from tasks.data.spec import DatasetSpec
from tasks.jobs.checkpoints import StoreCheckpoints, bundle_key, bundle_layout
from tasks.model import registry
from tasks.model.settings import TRAIN_VERSION
from tasks.store import catalog
from tasks.store.catalog import BundleManifest, Member
from tasks.store.storage import Store
from tasks.study.bundles import Bundle
from tasks.study.config import CHECKPOINT_MINUTES


@dataclass
class Trained:
    """A trained bundle: its manifest and, when trained by this task, what it wrote (kept in
    memory so its evaluation and collection need not read it back); `seconds` by part."""

    manifest: BundleManifest
    weights: dict[str, np.ndarray] | None = None
    curves: pa.Table | None = None
    probes: pa.Table | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def train_bundle_job(
    store: Store,
    bundle: Bundle,
    specs: dict[str, DatasetSpec],
    device: str = "cpu",
    probe_rows: int = 0,
    placement: dict[str, Any] | None = None,
    checkpoint_minutes: float = CHECKPOINT_MINUTES,
) -> Trained:
    """Train the bundle unless a complete one is stored (a retried or repeated task), in
    compiled steps of `bundle.step_size` members (tasks.model.chunked), and store it. Its
    state is saved every `checkpoint_minutes` while it trains (0: never), and a saved state
    of this bundle is resumed from."""
    checkpoints = StoreCheckpoints(
        store, bundle.bundle_id, bundle_key(bundle, probe_rows), 60 * checkpoint_minutes, layout=bundle_layout(bundle)
    )
    done = catalog.BUNDLES.current(store, bundle.bundle_id, TRAIN_VERSION)
    if done is not None:
        checkpoints.discard()  # left by a run that ended between the manifest and this
        return Trained(done)  # a retried or repeated task: the work is already there
    from tasks.model.chunked import train_in_steps  # TF import only inside the task

    training = bundle.training
    clock = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mlab-windows-") as cache, checkpoints.on_sigterm():
        data = preloaded(bundle_data(store, bundle, specs, cache))
        data.probes, data.probe_index = probe_sets(store, bundle, specs, probe_rows)
        read = time.perf_counter() - clock
        started = time.time()
        out = train_in_steps(
            registry.get(bundle.arch.arch),
            bundle.arch.params,
            training,
            [m.seed for m in bundle.models],
            data,
            bundle.step_size,
            checkpoints=checkpoints,
        )
    clock = time.perf_counter()
    curves, probes = curves_table(bundle, out), probe_table(bundle, out)
    files = {
        "weights": store.write_npz(catalog.bundle_file(bundle.bundle_id, "weights.npz"), out.weights),
        "curves": store.write_parquet(catalog.bundle_file(bundle.bundle_id, "curves.parquet"), curves),
        "probes": store.write_parquet(catalog.bundle_file(bundle.bundle_id, "probes.parquet"), probes),
    }
    manifest = BundleManifest(
        bundle_id=bundle.bundle_id,
        arch=bundle.arch.arch,
        params=bundle.arch.params,
        training=training.identity(),
        members=tuple(
            Member(m.model_id, m.seed, m.train_dataset, int(out.diverged_step[i]), int(out.selected_step[i]))
            for i, m in enumerate(bundle.models)
        ),
        files=files,
        seconds=out.seconds,
        compile_seconds=out.compile_seconds,
        model_steps_per_s=len(bundle.models) * out.steady_steps_per_s,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # Linux: KiB
        host=platform.node(),
        device=device,
        placement=placement or {},
        started=started,
        version=TRAIN_VERSION,
        resumed_at=out.resumed_at,
    )
    manifest = catalog.BUNDLES.write(store, manifest, bundle.bundle_id)  # last: complete from here on
    checkpoints.discard()
    seconds = {"read": read, "prepare": out.prepare_seconds, "train": out.seconds, "compile": out.compile_seconds}
    seconds["resumed_at"] = float(out.resumed_at)  # a step count: what this period trained is steps − this
    seconds["model_steps_per_s"] = manifest.model_steps_per_s
    seconds["write"] = time.perf_counter() - clock
    return Trained(manifest, out.weights, curves, probes, seconds)


def bundle_data(store: Store, bundle: Bundle, specs: dict[str, DatasetSpec], cache_dir: str):
    """The bundle's training windows (read on demand; a window visited again is read from a
    local copy in `cache_dir`, never downloaded twice) and validation sets, per dataset."""
    from tasks.model.trainer import BundleData

    datasets = bundle.datasets
    position = {d: i for i, d in enumerate(datasets)}
    train_specs = [specs[d] for d in datasets]
    val = validation_sets(store, bundle, specs)
    target = bundle.models[0].target  # computes y in the step only where every member shares it (step_target)
    common = {
        "dataset_index": [position[m.train_dataset] for m in bundle.models],
        "val": val,
        "first_window": bundle.first_window,
        "target": target,
        "layouts": target.layouts([m.seed for m in bundle.models]),
    }
    if bundle.training.fresh:  # drawn in the step from each member's range: no rows to read
        return BundleData(window_rows=(), load_window=_no_windows, fresh=fresh_table(bundle, specs), **common)
    manifests = [catalog.require_dataset(store, s) for s in train_specs]
    windows = train_specs[0].shard_windows(bundle.training.window_rows)

    def load_window(w: int) -> np.ndarray:
        local = os.path.join(cache_dir, f"window-{w}.npy")
        if os.path.exists(local):
            return np.load(local)
        first, stop = windows[w]
        rows = np.stack([catalog.read_shards(store, m, first, stop, with_y=True) for m in manifests])
        if len(windows) > 1:  # only several windows are ever revisited
            np.save(local, rows)
        return rows

    return BundleData(window_rows=[train_specs[0].rows_in(a, b) for a, b in windows], load_window=load_window, **common)


def preloaded(data):
    """A single training window read now, with the validation sets: reading it is the task's
    fixed cost (`read`), not its training's (it would count against the training rate)."""
    if len(data.window_rows) != 1:
        return data  # several windows are read as the schedule visits them
    load, pending = data.load_window, {0: data.load_window(0)}

    def load_window(w: int) -> np.ndarray:
        return pending.pop(w) if w in pending else load(w)  # handed over once: no second copy kept

    data.load_window = load_window
    return data


def validation_sets(store: Store, bundle: Bundle, specs: dict[str, DatasetSpec]) -> np.ndarray:
    """Validation sets in the order of the training datasets: val[d] belongs to datasets[d]."""
    val_of = {m.train_dataset: m.val_dataset for m in bundle.models}
    return np.stack([catalog.read_dataset(store, specs[val_of[d]], with_y=True) for d in bundle.datasets])


def fresh_table(bundle: Bundle, specs: dict[str, DatasetSpec]):
    """Each member's training range and distribution, as its fresh stream draws them."""
    from tasks.model.fresh import RangeTable

    return RangeTable.of([m.train_range for m in bundle.models], specs[bundle.models[0].train_dataset].distribution)


def _no_windows(window: int) -> np.ndarray:
    raise AssertionError("a bundle with fresh data reads no training windows")


def probe_sets(
    store: Store, bundle: Bundle, specs: dict[str, DatasetSpec], probe_rows: int
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The first `probe_rows` rows of every evaluation set of the bundle's members, and
    which of them each member watches ([K, E], −1 for none)."""
    if probe_rows <= 0:
        return None, None
    ids = list(dict.fromkeys(e.dataset_id for m in bundle.models for e in m.evals))
    if not ids:
        return None, None
    sets = []
    for d in ids:
        spec = specs[d]
        n_shards = min(spec.n_shards, -(-probe_rows // spec.shard_rows))  # only the shards the rows need
        sets.append(catalog.read_dataset(store, spec, 0, n_shards, with_y=True)[:probe_rows])
    rows = min(len(s) for s in sets)
    width = max(len(m.evals) for m in bundle.models)
    index = np.full((len(bundle.models), width), -1, np.int64)
    for k, m in enumerate(bundle.models):
        for e, ev in enumerate(m.evals):
            index[k, e] = ids.index(ev.dataset_id)
    return np.stack([s[:rows] for s in sets]), index


def curves_table(bundle: Bundle, out) -> pa.Table:
    """Long table: model × logged step → training and validation MSE."""
    ids = [m.model_id for m in bundle.models]
    n_logs = len(out.log_steps)
    return pa.table(
        {
            "model_id": np.repeat(ids, n_logs),
            "step": np.tile(out.log_steps, len(ids)),
            "train_mse": out.train_mse.T.reshape(-1),
            "val_mse": out.val_mse.T.reshape(-1),
        }
    )


PROBE_SCHEMA = pa.schema(
    [("model_id", pa.string()), ("step", pa.int64()), ("eval_range", pa.string()), ("mse", pa.float64())]
)


def probe_table(bundle: Bundle, out) -> pa.Table:
    """Long table: model × logged step × watched evaluation range → MSE (its success
    threshold is the evaluation's, joined at collection)."""
    if not out.probe_mse.size:
        return PROBE_SCHEMA.empty_table()
    steps = np.asarray(out.log_steps, np.int64)
    pairs = [(k, e, ev.ranges.label()) for k, m in enumerate(bundle.models) for e, ev in enumerate(m.evals)]
    member = np.array([k for k, _, _ in pairs], np.int64)
    column = np.array([e for _, e, _ in pairs], np.int64)
    ids = np.array([m.model_id for m in bundle.models], dtype=object)
    labels = np.array([label for _, _, label in pairs], dtype=object)
    return pa.table(
        {
            "model_id": np.repeat(ids[member], len(steps)),
            "step": np.tile(steps, len(pairs)),
            "eval_range": np.repeat(labels, len(steps)),
            "mse": out.probe_mse[:, member, column].T.reshape(-1).astype(np.float64),
        },
        schema=PROBE_SCHEMA,
    )
