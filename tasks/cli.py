"""Shared behaviour of the entry points: user errors as one line, clean interrupts,
the dry-run plan description and the run's metadata."""

from __future__ import annotations

import functools
import platform
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from tasks.errors import UserError
from tasks.plan import Plan, make_bundles

# Training throughput per CPU slot measured by workflows/bench.py (243k model-steps/s on a
# 2-core AMD EPYC, the article's model); used only for the dry-run's time estimate.
BENCH_MODEL_STEPS_PER_S_PER_CPU = 120_000
RAY_START_SECONDS = 15


def guarded(main: Callable[..., int]) -> Callable[..., int]:
    """User errors print one line and exit 2; Ctrl-C/SIGTERM shut Ray down and exit 130."""

    @functools.wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        from tasks.runtime import reclaim_signals

        in_main_thread = threading.current_thread() is threading.main_thread()
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)} if in_main_thread else {}
        reclaim_signals()
        try:
            return main(*args, **kwargs)
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("\ninterrupted: finished work is kept; rerun the same command to resume", file=sys.stderr)
            return 130
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            from tasks.runtime import shutdown

            shutdown()

    return wrapper


def describe_plan(plan: Plan, out: str, cpus: int | None = None) -> str:
    import os

    config = plan.config
    cpus = cpus or os.cpu_count() or 1
    slots = max(1, cpus // config.resources.train_cpus)
    by_role: dict[str, list] = {}
    for spec in plan.datasets.values():
        by_role.setdefault(spec.role, []).append(spec)
    lines = [f"plan for config '{config.name}' → {out}", "datasets:"]
    for role, specs in by_role.items():
        rows = sum(s.rows for s in specs)
        lines.append(f"  {role:5s}: {len(specs)} datasets, {rows:,} rows, {sum(s.n_shards for s in specs)} shards")
    lines.append(
        f"models: {len(plan.models)} = {len(config.train_ranges)} training ranges × "
        f"{len(config.architectures)} architectures × {len(config.seeds)} seeds"
    )
    from tasks import architectures

    bundles = make_bundles(plan, list(plan.models), config.training.bundle_size, slots)
    n_bundles = len(bundles)
    for arch in config.architectures:
        sizes = sorted({len(b.models) for b in bundles if b.arch == arch})
        n = sum(1 for m in plan.models if m.arch == arch)
        sizes_text = "–".join(map(str, (sizes[0], sizes[-1]) if len(sizes) > 1 else sizes))
        lines.append(f"  {architectures.get(arch.arch).label(arch.params)}: {n} models, bundles of {sizes_text}")
    n_evals = sum(len(m.evals) + len(config.evaluation.diagonal.segments) for m in plan.models)
    lines.append(
        f"tasks: {sum(s.n_shards for s in plan.datasets.values())} generation, {n_bundles} training, "
        f"{n_bundles} evaluation ({n_evals} model × range evaluations)"
    )
    train_s = plan.n_model_steps / (BENCH_MODEL_STEPS_PER_S_PER_CPU * config.resources.train_cpus * slots)
    lines.append(
        f"estimate: ~{train_s + RAY_START_SECONDS:.0f} s on {cpus} CPUs "
        f"({plan.n_model_steps:,} model-steps at {BENCH_MODEL_STEPS_PER_S_PER_CPU:,}/s per CPU, "
        "plus start-up), before reuse of earlier outputs"
    )
    lines.append("dry run: nothing was written")
    return "\n".join(lines)


def run_info(plan: Plan, bundles: dict[str, dict[str, Any]], started: float) -> dict[str, Any]:
    from dataclasses import asdict

    config = plan.config
    fresh = {m["bundle_id"] for m in bundles.values() if m.get("started", 0) >= started}
    return {
        "config": config.name,
        "description": config.description,
        "config_resolved": asdict(config),  # tuples serialise as JSON lists
        "n_models": len(plan.models),
        "n_trained": sum(1 for m in plan.models if bundles[m.model_id]["bundle_id"] in fresh),
        "n_bundles": len({m["bundle_id"] for m in bundles.values()}),
        "steps": config.training.steps,
        "seconds": time.time() - started,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "python": platform.python_version(),
    }
