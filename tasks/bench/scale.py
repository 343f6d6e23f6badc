"""The benchmark's scale figures: studies of 1.2k to 1M small models with short training, each
run in a process of its own (so the driver's peak RSS is that study's), with the time of each
phase, then rerun unchanged (which should find everything current in seconds).

    python -m tasks.bench.scale --models 12k --out DIR [--nodes 4]   # one study, one JSON line

`--nodes N` runs on a simulated multi-node cluster (ray.cluster_utils.Cluster, N one-CPU
nodes beside a head that takes no work) instead of a local Ray.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from tasks.core.schema import auto

# (training ranges, architectures, seeds, steps, bundle size or None for auto)
SIZES: dict[str, tuple[int, int, int, int, int | None]] = {
    "tiny": (2, 2, 3, 20, None),  # the test suite's
    "1.2k": (10, 3, 40, 500, None),
    "12k": (10, 3, 400, 500, None),
    "100k": (10, 3, 3334, 100, None),
    "1m": (100, 10, 1000, 10, 1000),
}
UNITS = [
    {"arch": "mlp", "hidden": [8]},
    {"arch": "product_unit"},
    {"arch": "mlp_product_feature", "hidden": [8]},
]


def scale_config(ranges: int, archs: int, seeds: int, steps: int, bundle: int | None) -> dict[str, Any]:
    """Small models, short training, small test sets: what grows is the number of models."""
    widths = [w for w in range(4, 64) if w != 8][: max(0, archs - len(UNITS))]  # 8 is UNITS' own MLP
    units = UNITS + [{"arch": "mlp", "hidden": [w]} for w in widths]
    return {
        "name": "scale",
        "seeds": {"start": 0, "count": seeds},
        "data": {"train_size": 20_000, "val_size": 500, "shard_rows": 20_000, "seed": 11},
        "train_ranges": [[0, 1 + i * 0.5] for i in range(ranges)],
        "architectures": units[:archs],
        "training": {"steps": steps, "log_every": max(1, steps // 2), "bundle_size": auto(bundle)},
        "evaluation": {"scales": [1, 2, 10], "size": 200, "probe_rows": 50, "diagonal": {"points": 50}},
    }


def run_one(size: str, out: Path, nodes: int = 0) -> dict[str, Any]:
    """One study of `size`, then its rerun; phase times and the driver's peak RSS."""
    import ray

    from tasks.cluster import runtime
    from tasks.pipeline import run_study
    from tasks.store.outputs import open_output
    from tasks.study.config import parse_config
    from tasks.study.plan import make_plan

    started = time.perf_counter()
    plan = make_plan(parse_config(scale_config(*SIZES[size])))
    plan_seconds = time.perf_counter() - started
    shutil.rmtree(out, ignore_errors=True)
    cluster = None
    if nodes:
        from ray.cluster_utils import Cluster

        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
        for _ in range(nodes):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False, runtime_env=runtime.job_runtime_env())
    else:  # a Ray of its own, never one that happens to run on this machine
        runtime.connect(num_cpus=os.cpu_count() or 1)
    try:
        t0 = time.perf_counter()
        first = run_study(plan, open_output(str(out)))
        total = time.perf_counter() - t0 + plan_seconds
        t0 = time.perf_counter()
        rerun_plan = make_plan(parse_config(scale_config(*SIZES[size])))
        run_study(rerun_plan, open_output(str(out)))
        rerun = time.perf_counter() - t0
    finally:
        runtime.shutdown()
        ray.shutdown()
        if cluster is not None:
            cluster.shutdown()
    phases = {"plan": plan_seconds, **first.info["phases"]}
    after_training = sum(phases.get(k, 0.0) for k in ("summarise", "results", "report"))
    return {
        "size": size,
        "models": len(plan.models),
        "nodes": nodes or 1,
        "seconds": total,
        "phases": phases,
        "collect_and_report_share": after_training / total,
        "rerun_seconds": rerun,
        "driver_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="One scale study (see module docstring).")
    p.add_argument("--models", choices=tuple(SIZES), required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--nodes", type=int, default=0, help="simulated cluster nodes (0: a local Ray)")
    args = p.parse_args(argv)
    print(json.dumps(run_one(args.models, Path(args.out), args.nodes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
