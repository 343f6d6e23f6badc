"""The study's DAG as one library function (the entry points and the nightly call it).

    config → plan → datasets (Ray tasks, Parquet shards) → training bundles (Ray tasks, K
    models per compiled loop) → evaluation per bundle (Ray tasks, chained to its training)
    → tidy tables → report

Everything already complete in the output store is reused, so rerunning resumes.
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict
from typing import Any

from tasks.store.catalog import BundleManifest
from tasks.store.storage import Store
from tasks.study.plan import Plan


def run_study(
    plan: Plan, store: Store, address: str | None = None, num_cpus: int | None = None, verbose: bool = False
) -> dict[str, Any]:
    """Run `plan` on Ray into `store`; returns the run's metadata (with the report's location)."""
    from tasks.cluster import orchestrate, runtime
    from tasks.cluster.placement import placement
    from tasks.jobs import collect
    from tasks.report import page

    started = time.time()
    # Ray: an existing cluster when asked for (or running here), else a local instance.
    print(f"[ray] {runtime.connect(address, num_cpus, verbose)}")
    where = placement(plan.config.resources, runtime.cluster_resources())

    with orchestrate.invalidating_corrupt(store):  # a corrupted input is reported and regenerated next run
        # Datasets: Parquet shards written in parallel, manifest last; complete ones reused.
        orchestrate.ensure_datasets(store, plan.datasets)
        # Train bundles of K models per task; evaluate each bundle as soon as it is trained.
        bundles, evaluations = orchestrate.train_and_evaluate(store, plan, where)
        # Tidy result tables, then the report.
        tables = collect.collect(store, plan, bundles, evaluations)
    info = run_info(plan, bundles, started)
    collect.write_results(store, tables, info)
    info["report"] = page.write_report(store, page.build_report(tables, info))
    return info


def run_info(plan: Plan, bundles: dict[str, BundleManifest], started: float) -> dict[str, Any]:
    """The run's metadata, stored in the results manifest and shown in the report."""
    config = plan.config
    fresh = {m.bundle_id for m in bundles.values() if m.started >= started}
    return {
        "config": config.name,
        "description": config.description,
        "config_resolved": asdict(config),  # tuples serialise as JSON lists
        "n_models": len(plan.models),
        "n_trained": sum(1 for m in plan.models if bundles[m.model_id].bundle_id in fresh),
        "n_bundles": len({m.bundle_id for m in bundles.values()}),
        "steps": config.training.steps,
        "seconds": time.time() - started,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "python": platform.python_version(),
    }
