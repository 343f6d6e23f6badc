"""The thin Ray layer: domain jobs wrapped as Ray tasks, and their resource requests.

Tasks take a `Store` (pickled as its URI) and plain specs; every output goes through the
store, so a task may run on any node and a retried task finds finished work in place.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import ray

from tasks.cluster.runtime import where
from tasks.data.spec import DatasetSpec
from tasks.data.targets import TargetSpec
from tasks.jobs.bundle import BundleDone, BundleTask, run_bundle
from tasks.jobs.collect import Part
from tasks.jobs.generate import write_shard
from tasks.jobs.train import train_bundle_job
from tasks.model import plugins
from tasks.model.calibration import Calibration
from tasks.model.settings import TrainingConfig
from tasks.model.tfenv import configure_tensorflow
from tasks.report.aggregates import Summary
from tasks.store.catalog import BundleManifest, ShardEntry
from tasks.store.storage import Store
from tasks.study.bundles import Bundle
from tasks.study.config import CHECKPOINT_MINUTES

RETRIES = 3  # Ray retries a task whose worker or node died; outputs are idempotent


def with_plugins(options: dict[str, Any]) -> dict[str, Any]:
    """Task options plus the record of the driver's plugins, so a worker can load them: a
    task may land on any node, in a Ray session started by anyone."""
    extra = plugins.task_env_vars()
    if not extra:
        return options
    env = dict(options.get("runtime_env", {}))
    env["env_vars"] = {**env.get("env_vars", {}), **extra}
    return {**options, "runtime_env": env}


def submit(remote_function, *args: Any, **options: Any) -> ray.ObjectRef:
    """Submit a task of ours: its resource options, with the plugins attached."""
    return remote_function.options(**with_plugins(options)).remote(*args)


@ray.remote(num_cpus=1, max_retries=RETRIES)
def generate_shard(store: Store, spec: DatasetSpec, index: int) -> ShardEntry:
    plugins.load_from_environment()  # a plugin's operation computes the stored y
    info, node = write_shard(store, spec, index), where()
    return ShardEntry(info.path, info.size, info.sha256, node["node_id"], tuple(node["gpu_ids"]))


def ready_for_models():
    """A task about to meet architectures: the driver's plugins loaded, TensorFlow configured."""
    plugins.load_from_environment()
    return configure_tensorflow()


def _train_bundle(
    store: Store,
    bundle: Bundle,
    specs: dict[str, DatasetSpec],
    probe_rows: int = 0,
    checkpoint_minutes: float = CHECKPOINT_MINUTES,
) -> BundleManifest:
    tf = ready_for_models()
    device = "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
    return train_bundle_job(store, bundle, specs, device, probe_rows, where(), checkpoint_minutes).manifest


train_bundle_cpu = ray.remote(max_retries=RETRIES)(_train_bundle)
# A GPU worker exits after its task, releasing the GPU memory TF holds (max_calls cannot be
# set per call, hence a second remote function); the TF import is amortised over a bundle.
train_bundle_gpu = ray.remote(max_retries=RETRIES, max_calls=1)(_train_bundle)


def _run_bundle(store: Store, task: BundleTask) -> BundleDone:
    """A bundle's training, evaluation and collection (tasks.jobs.bundle), with what the task
    spent before its work (`setup`: the driver's plugins, TensorFlow in a fresh worker) and
    when it began (the driver subtracts its submission time: dispatch)."""
    began, clock = time.time(), time.perf_counter()
    tf = ready_for_models()
    setup = time.perf_counter() - clock
    device = "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
    done = run_bundle(store, task, device, placement=where())
    return replace(done, seconds={**done.seconds, "setup": setup, "began": began})


run_bundle_cpu = ray.remote(max_retries=RETRIES)(_run_bundle)
run_bundle_gpu = ray.remote(max_retries=RETRIES, max_calls=1)(_run_bundle)  # frees the GPU's memory, as above


@ray.remote(num_cpus=1, max_retries=RETRIES)
def summarise(store: Store, parts: list[Part], reference_range: str | None) -> tuple[Summary, float]:
    """The reduce: one architecture's aggregates from its parts, and the seconds it took
    (a slot's work the study's estimate counts: tasks.study.observe)."""
    from tasks.jobs import collect

    started = time.perf_counter()
    return collect.summarise_parts(store, parts, reference_range), time.perf_counter() - started


def _calibrate(arch: str, params: dict, training: TrainingConfig, target: TargetSpec, on_gpu: bool) -> Calibration:
    ready_for_models()
    from tasks.model.calibration import calibrate

    return calibrate(arch, params, training, target, on_gpu)


calibrate_cpu = ray.remote(max_retries=RETRIES)(_calibrate)


def _measure_overheads() -> dict[str, tuple[float, float]]:
    """A bundle's evaluation and collection costs on this node kind (tasks.jobs.overheads)."""
    ready_for_models()
    from tasks.jobs.overheads import measure_overheads

    return measure_overheads()


measure_overheads_cpu = ray.remote(max_retries=RETRIES)(_measure_overheads)
measure_overheads_gpu = ray.remote(max_retries=RETRIES, max_calls=1)(_measure_overheads)
calibrate_gpu = ray.remote(max_retries=RETRIES, max_calls=1)(_calibrate)
