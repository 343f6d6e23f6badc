"""Bundle size by measurement: how many models one compiled training step should carry on
this machine, found by timing a few candidate sizes, and remembered.

The best size depends on the CPU (cache sizes, vector units) far more than a formula can
say: the article's model peaks at K = 32 on an AMD EPYC (1 MiB L2) and at K = 8 on an Intel
Xeon (4 MiB L2), where K = 64 runs at half speed. So the first bundle of an architecture shape
on a machine kind times a short sweep (seconds: a coarse geometric pass, then neighbours of
the best) on synthetic rows, and the result is cached per (CPU or GPU model, shape, batch,
TensorFlow version) in a small JSON file on that node (MLAB_CACHE_DIR, else
~/.cache/multiplication-lab).
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tasks.core.hardware import cpu_identity

if TYPE_CHECKING:
    from tasks.data.targets import TargetSpec
    from tasks.model.settings import TrainingConfig

CANDIDATES = {"cpu": (1, 4, 8, 16, 32, 64, 128), "gpu": (16, 64, 256, 1024, 4096)}  # coarse passes
WORK_PER_CANDIDATE = 150_000  # model-steps timed per candidate (about a second), after a compiling call
REFINED, LEADERS = 2, 3  # sizes a sweep adds around its best coarse one; the best measured again
CACHE_FILE = "calibration.json"


@dataclass(frozen=True)
class Calibration:
    key: str  # what it holds for: device model, shape, batch, TensorFlow version
    best_size: int
    best_model_steps_per_s: float
    sweep: dict[str, float]  # candidate size → model-steps/s
    device: str
    seconds: float  # what the sweep took
    cached: bool = False  # found in the node's cache (no sweep run now)


def cache_dir() -> Path:
    return Path(os.environ.get("MLAB_CACHE_DIR") or Path.home() / ".cache" / "multiplication-lab")


def device_name(on_gpu: bool) -> str:
    if on_gpu:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            return f"GPU {details.get('device_name', 'unknown')}"
    return f"CPU {cpu_identity()} ({platform.machine()})"


def shape_key(
    arch: str, params: dict[str, Any], n_inputs: int, batch: int, optimizer: str, on_gpu: bool, fresh: bool = False
) -> str:
    """What a calibration holds for; fresh data (drawn in the step) is a step of its own."""
    from importlib.metadata import version

    shape = json.dumps({"arch": arch, "params": params, "inputs": n_inputs}, sort_keys=True)
    source = " | fresh data" if fresh else ""
    return f"{device_name(on_gpu)} | {shape} | batch {batch} | {optimizer}{source} | TF {version('tensorflow')}"


def load_cached(key: str) -> Calibration | None:
    try:
        entries = json.loads((cache_dir() / CACHE_FILE).read_text())
        return Calibration(**{**entries[key], "cached": True})
    except (OSError, ValueError, KeyError, TypeError):
        return None


def cached_for(
    arch_name: str, params: dict[str, Any], training: TrainingConfig, target: TargetSpec, on_gpu: bool = False
) -> Calibration | None:
    """This machine's cached calibration of a shape, without measuring (for the dry run)."""
    return load_cached(
        shape_key(arch_name, params, target.n_inputs, training.batch_size, training.optimizer, on_gpu, training.fresh)
    )


def store_cached(result: Calibration) -> None:
    """Add to the node's cache (written to a temporary name, then renamed)."""
    path = cache_dir() / CACHE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError):
        entries = {}
    entries[result.key] = {k: v for k, v in asdict(result).items() if k != "cached"}
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(entries, indent=1, sort_keys=True))
    tmp.replace(path)


def measure(
    arch_name: str,
    params: dict[str, Any],
    training: TrainingConfig,
    target: TargetSpec,
    size: int,
    work: int = WORK_PER_CANDIDATE,
) -> float:
    """Model-steps/s of a bundle of `size` members on synthetic rows: a short call compiles
    the step for this size, a second one of about `work` model-steps is timed."""
    from tasks.model import registry
    from tasks.model.trainer import BundleData, train_bundle

    rows = np.random.default_rng(0).uniform(0.5, 2.0, (1, 20_000, target.n_inputs)).astype(np.float32)
    if not target.target.per_model(target.params):
        y = target.target.y(target.params, rows[0], target.target.layout(target.params, 0)).astype(np.float32)
        rows = np.concatenate([rows, y[None, :, None]], axis=2)  # the stored y column, as in training
    data = BundleData([0] * size, [rows.shape[1]], lambda w: rows, None, target=target)
    if training.fresh:  # drawn in the step, as the bundles will be
        from tasks.core.ranges import Ranges
        from tasks.model.fresh import RangeTable

        data.fresh = RangeTable.of([Ranges.of((0.5, 2.0))] * size, "uniform")
    seconds = 0.0
    for steps in (20, max(200, work // size)):  # compile, then time
        t = type(training)(**{**asdict(training), "steps": steps, "log_every": steps, "checkpoint": "last"})
        started = time.perf_counter()
        train_bundle(registry.get(arch_name), params, t, list(range(size)), data)
        seconds = time.perf_counter() - started
    return size * steps / seconds


def calibrate(
    arch_name: str,
    params: dict[str, Any],
    training: TrainingConfig,
    target: TargetSpec,
    on_gpu: bool = False,
    limit: int = 4096,
    use_cache: bool = True,
    candidates: tuple[int, ...] | None = None,
    work: int = WORK_PER_CANDIDATE,
) -> Calibration:
    """The node's cached result for this shape, else a sweep (and cache it). `use_cache=False`
    always sweeps and leaves the cache alone (the benchmark checks a fresh choice every run);
    `candidates` and `work` shrink the sweep for tests."""
    key = shape_key(arch_name, params, target.n_inputs, training.batch_size, training.optimizer, on_gpu, training.fresh)
    cached = load_cached(key) if use_cache else None
    if cached is not None:
        return cached
    started = time.perf_counter()
    sweep: dict[int, float] = {}
    for size in [c for c in candidates or CANDIDATES["gpu" if on_gpu else "cpu"] if c <= limit] or [1]:
        sweep[size] = measure(arch_name, params, training, target, size, work)
    best = max(sweep, key=sweep.get)
    for size in sorted({max(1, best * 3 // 4), best * 3 // 2}):  # refine between the coarse points (REFINED)
        if size not in sweep and size <= limit:
            sweep[size] = measure(arch_name, params, training, target, size, work)
    for size in sorted(sweep, key=sweep.get)[-LEADERS:]:  # the leaders once more: a busy machine is noisy
        sweep[size] = max(sweep[size], measure(arch_name, params, training, target, size, work))
    best = max(sweep, key=sweep.get)
    result = Calibration(
        key,
        best,
        sweep[best],
        {str(k): v for k, v in sorted(sweep.items())},
        device_name(on_gpu),
        time.perf_counter() - started,
    )
    if use_cache:
        store_cached(result)
    return result
