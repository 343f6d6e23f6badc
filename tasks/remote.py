"""The thin Ray layer: domain jobs wrapped as Ray tasks, and their resource requests.

Tasks take a `Store` (pickled as its URI) and plain specs; every output goes through the
store, so a task may run on any node and a retried task finds finished work in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ray

from tasks.config import ResourcesConfig, TrainingConfig
from tasks.datasets import DatasetSpec, write_shard
from tasks.evaluation_job import EvalJob, evaluate_and_store
from tasks.plan import Bundle
from tasks.runtime import where
from tasks.storage import Store
from tasks.tfenv import configure_tensorflow
from tasks.training_job import train_and_store

DEFAULT_GPU_FRACTION = 0.25  # bundles are small: four share one GPU (memory growth on)
RETRIES = 3  # Ray retries a task whose worker or node died; outputs are idempotent


@ray.remote(num_cpus=1, max_retries=RETRIES)
def generate_shard(store: Store, spec: DatasetSpec, index: int) -> dict[str, Any]:
    return {**vars(write_shard(store, spec, index)), **where()}


def _train_bundle(
    store: Store,
    bundle: Bundle,
    training: TrainingConfig,
    specs: dict[str, DatasetSpec],
    probe_rows: int = 0,
) -> dict[str, Any]:
    tf = configure_tensorflow()
    device = "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
    return train_and_store(store, bundle, training, specs, device, probe_rows, placement=where())


train_bundle_cpu = ray.remote(max_retries=RETRIES)(_train_bundle)
# A GPU worker exits after its task, releasing the GPU memory TF holds (max_calls cannot be
# set per call, hence a second remote function); the TF import is amortised over a bundle.
train_bundle_gpu = ray.remote(max_retries=RETRIES, max_calls=1)(_train_bundle)


@ray.remote(num_cpus=1, max_retries=RETRIES)
def evaluate(store: Store, job: EvalJob, specs: dict[str, DatasetSpec], *after: Any) -> dict[str, Any]:
    """`after`: the training result refs this evaluation waits for (Ray resolves them first)."""
    configure_tensorflow()
    return evaluate_and_store(store, job, specs, placement=where())


@dataclass(frozen=True)
class Placement:
    """Where training bundles go: CPUs per task and the GPU share per task (0: CPU only)."""

    cpus: int
    gpus: float
    slots: int  # bundles that can train at once

    @property
    def on_gpu(self) -> bool:
        return self.gpus > 0

    def options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"num_cpus": self.cpus, "num_gpus": self.gpus}
        if self.cpus > 1:
            # Multi-CPU training gets workers of its own (a distinct runtime env keys a distinct
            # worker pool): TF sizes its thread pools once per process, so a worker that first
            # ran a 1-CPU evaluation must never be handed a bundle that reserved more CPUs.
            # 1-CPU training shares workers with evaluation, which then finds TF imported.
            opts["runtime_env"] = {"env_vars": {"MLAB_WORKER_POOL": f"train-{self.cpus}cpu"}}
        return opts

    def remote_function(self):
        return train_bundle_gpu if self.on_gpu else train_bundle_cpu

    def train_task(self):
        """The training remote function for this placement, with its resource request."""
        return self.remote_function().options(**self.options())


def placement(resources: ResourcesConfig, cluster: dict[str, float]) -> Placement:
    """Decide training placement from the config and the cluster's total resources."""
    total_cpus = int(cluster.get("CPU", 1))
    total_gpus = float(cluster.get("GPU", 0))
    gpus = resources.train_gpus
    if gpus is None:  # auto: GPUs when the cluster has some now
        gpus = DEFAULT_GPU_FRACTION if total_gpus > 0 else 0.0
    if gpus > 0:  # an explicit request is honoured even before an autoscaler has added GPU nodes
        return Placement(resources.train_cpus, gpus, max(1, int(max(total_gpus, 1.0) / gpus)))
    return Placement(resources.train_cpus, 0.0, max(1, total_cpus // resources.train_cpus))
