"""The dry run: what a study would generate, train and evaluate, and about how long it takes."""

from __future__ import annotations

import os

from tasks.model.calibration import cached_for
from tasks.model.settings import TrainingConfig
from tasks.study.bundles import make_bundles, worth_calibrating
from tasks.study.plan import ModelSpec, Plan

# Training throughput per CPU slot assumed for an architecture this machine has not calibrated
# yet (the article's model runs at 100–150k on one core of an AMD EPYC or an Intel Xeon; wider
# or stacked units are slower); only the dry-run's time estimate uses it.
BENCH_MODEL_STEPS_PER_S_PER_CPU = 100_000
RAY_START_SECONDS = 15


def watch_overhead(plan: Plan, models: list[ModelSpec], training: TrainingConfig) -> float:
    """Time factor for what a model watches at every log step (its validation set and the
    probe rows of each evaluation set), which the calibration (training steps alone) leaves
    out: a watched row costs about what a training row costs (measured on the ICLR stack:
    20,000 rows per 1,000 steps of batch 128 added 16%)."""
    if not models:
        return 1.0
    ev = plan.config.evaluation
    probes = min(ev.probe_rows, ev.size) * sum(len(m.evals) for m in models) / len(models)
    return 1.0 + (plan.config.data.val_size + probes) / (training.batch_size * training.log_every)


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
    ops = f"{len(config.targets)} operations × " if len(config.targets) > 1 else ""
    lines.append(
        f"models: {len(plan.models)} = {len(config.train_ranges)} training ranges × {ops}"
        f"{len(config.architectures)} architectures × {len(config.seeds)} seeds"
    )
    calibrations = {
        arch: cached_for(arch.arch, arch.params, arch.training_or(config.training), config.target)
        for arch in config.architectures
    }
    measured = {arch: c.best_size for arch, c in calibrations.items() if c is not None}
    bundles = make_bundles(plan, list(plan.models), slots, measured=measured)
    n_bundles = len(bundles)
    train_s = 0.0
    for arch in config.architectures:
        sizes = sorted({len(b.models) for b in bundles if b.arch == arch})
        models = [m for m in plan.models if m.arch == arch]
        sizes_text = "–".join(map(str, (sizes[0], sizes[-1]) if len(sizes) > 1 else sizes))
        c = calibrations[arch]
        per_cpu = c.best_model_steps_per_s if c else BENCH_MODEL_STEPS_PER_S_PER_CPU
        if c:
            how = f"calibrated here: best {c.best_size}, {per_cpu:,.0f} model-steps/s per core"
        elif worth_calibrating(len(models), slots) and arch.training_or(config.training).bundle_size is None:
            how = f"the first run calibrates the size; assumed {per_cpu:,}/s per core"
        else:
            how = f"assumed {per_cpu:,}/s per core"
        lines.append(f"  {arch.label()}: {len(models)} models, bundles of {sizes_text} ({how})")
        training = arch.training_or(config.training)
        steps = len(models) * training.steps
        train_s += steps * watch_overhead(plan, models, training) / (per_cpu * config.resources.train_cpus * slots)
    diagonal = config.evaluation.diagonal
    n_evals = sum(len(m.evals) + (len(diagonal.segments) if diagonal else 0) for m in plan.models)
    lines.append(
        f"tasks: {sum(s.n_shards for s in plan.datasets.values())} generation, {n_bundles} training, "
        f"{n_bundles} evaluation ({n_evals} model × range evaluations)"
    )
    lines.append(
        f"estimate: ~{train_s + RAY_START_SECONDS:.0f} s on {cpus} CPUs of this machine "
        f"({plan.n_model_steps:,} model-steps at the rates above, plus the validation and probe rows every model "
        "watches at each log step, plus start-up), before reuse of earlier outputs"
    )
    lines += [f"warning: {w}" for w in plan.warnings]
    lines.append("dry run: nothing was written")
    return "\n".join(lines)
