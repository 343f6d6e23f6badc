"""Where training bundles go: CPUs per task, a GPU share per task, and how many run at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tasks.study.config import ResourcesConfig

DEFAULT_GPU_FRACTION = 0.25  # bundles are small: four share one GPU (memory growth on)


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

    def remote_function(self, whole: bool = False):
        """The training task (`whole`: training, evaluation and collection of a bundle)."""
        from tasks.cluster import remote

        if whole:
            return remote.run_bundle_gpu if self.on_gpu else remote.run_bundle_cpu
        return remote.train_bundle_gpu if self.on_gpu else remote.train_bundle_cpu

    def submit(self, *args: Any, whole: bool = False) -> Any:
        """Submit one training task with this placement's resource request."""
        from tasks.cluster.remote import submit

        return submit(self.remote_function(whole), *args, **self.options())


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


class NodeSpreader:
    """Round-robin over the cluster's nodes that have CPUs, as soft node affinity: short CPU
    tasks (shards, evaluations) then use the whole cluster rather than collecting on the
    driver's node, which Ray's default (and even its SPREAD hint) prefers for quick tasks.
    Soft: a task whose node is gone or full runs elsewhere."""

    def __init__(self, nodes: list[dict[str, Any]] | None = None):
        import ray

        nodes = ray.nodes() if nodes is None else nodes
        self.node_ids = sorted(
            n["NodeID"] for n in nodes if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0
        )
        self.turn = 0

    def options(self) -> dict[str, Any]:
        if len(self.node_ids) < 2:
            return {}
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        node = self.node_ids[self.turn % len(self.node_ids)]
        self.turn += 1
        return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node, soft=True)}
