"""Run a multiplication-extrapolation study end to end on Ray.

    python workflows/run.py [--config quick|smoke|seed|PATH] [--out DIR_OR_URI]
                            [--address auto|HOST:PORT] [--dry-run]

The DAG, top to bottom: load and validate the config → plan datasets and models →
generate datasets (Ray tasks, Parquet shards) → train bundles of models (Ray tasks, one
vectorized computation each) → evaluate each bundle over its widening ranges (Ray tasks,
chained to its training) → collect tidy tables → write the report.
Everything already complete in OUT is reused, so rerunning resumes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script (also via `ray submit`): find the project
    root = Path(__file__).resolve().parent.parent
    if (root / "tasks" / "__init__.py").is_file() and str(root) not in sys.path:
        sys.path.insert(0, str(root))

from tasks.cli import describe_plan, guarded, run_info
from tasks.config import load_config
from tasks.outputs import open_output
from tasks.plan import Plan, make_plan
from tasks.storage import Store


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="quick", help="shipped config name or a .yaml/.toml path (default: quick)")
    p.add_argument("--out", help="output directory or URI (default: the config's `output`)")
    p.add_argument("--address", help="Ray address ('auto' = the running cluster); default: $RAY_ADDRESS or local")
    p.add_argument("--num-cpus", type=int, help="CPUs for a local Ray instance (default: all)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and exit without writing anything")
    p.add_argument("--verbose", action="store_true", help="show Ray and worker logs")
    return p.parse_args(argv)


@guarded
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.time()

    # 1. Config and plan: validated before anything starts or is written.
    config = load_config(args.config)
    out = args.out or config.output
    plan = make_plan(config)
    if args.dry_run:
        open_output(out, create=False)
        print(describe_plan(plan, out))
        return 0
    store = open_output(out)
    info = run_study(plan, store, args.address, args.num_cpus, args.verbose)
    print(f"[done] {info['n_models']} models in {time.time() - started:.0f}s. Report: {info['report']}")
    return 0


def run_study(
    plan: Plan, store: Store, address: str | None = None, num_cpus: int | None = None, verbose: bool = False
) -> dict[str, Any]:
    """The study's DAG on Ray, into `store`; returns the run's metadata (also used by nightly.py)."""
    started = time.time()
    config = plan.config
    # 2. Ray: an existing cluster when asked for, else a local instance.
    from tasks import orchestrate, remote, report, results, runtime

    print(f"[ray] {runtime.connect(address, num_cpus, verbose)}")
    placement = remote.placement(config.resources, runtime.cluster_resources())

    with orchestrate.invalidating_corrupt(store):  # a corrupted input is reported and regenerated next run
        # 3. Datasets: Parquet shards written in parallel, manifest last; complete ones reused.
        orchestrate.ensure_datasets(store, plan.datasets)

        # 4–5. Train bundles of K models per task; evaluate each bundle as soon as it is trained.
        bundles, evaluations = orchestrate.train_and_evaluate(store, plan, placement)

        # 6. Tidy result tables, then the report.
        tables = results.collect(store, plan, bundles, evaluations)
    info = run_info(plan, bundles, started)
    results.write_results(store, tables, info)
    info["report"] = report.write_report(store, report.build_report(tables, info))
    return info


if __name__ == "__main__":
    sys.exit(main())
