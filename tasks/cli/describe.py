"""The dry run: what a study would generate, train and evaluate, and about how long it takes."""

from __future__ import annotations

import os

from tasks.study.bundles import make_bundles
from tasks.study.plan import Plan

# Training throughput per CPU slot measured by workflows/bench.py (243k model-steps/s on a
# 2-core AMD EPYC, the article's model); used only for the dry-run's time estimate.
BENCH_MODEL_STEPS_PER_S_PER_CPU = 120_000
RAY_START_SECONDS = 15


def describe_plan(plan: Plan, out: str, cpus: int | None = None) -> str:
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
    bundles = make_bundles(plan, list(plan.models), None, slots)
    n_bundles = len(bundles)
    for arch in config.architectures:
        sizes = sorted({len(b.models) for b in bundles if b.arch == arch})
        n = sum(1 for m in plan.models if m.arch == arch)
        sizes_text = "–".join(map(str, (sizes[0], sizes[-1]) if len(sizes) > 1 else sizes))
        lines.append(f"  {arch.label()}: {n} models, bundles of {sizes_text}")
    diagonal = config.evaluation.diagonal
    n_evals = sum(len(m.evals) + (len(diagonal.segments) if diagonal else 0) for m in plan.models)
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
    lines += [f"warning: {w}" for w in plan.warnings]
    lines.append("dry run: nothing was written")
    return "\n".join(lines)
