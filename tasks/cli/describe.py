"""The dry run: what a study would generate, train and evaluate, and about how long it takes."""

from __future__ import annotations

import os

from tasks.core.errors import UserError
from tasks.study.bundles import worth_calibrating
from tasks.study.estimate import calibrations_of, estimate, estimate_seconds
from tasks.study.plan import Plan

LONG_RUN_SECONDS = 24 * 3600  # a study estimated longer than this runs only when confirmed (--yes)


def describe_plan(plan: Plan, out: str, cpus: int | None = None, plan_seconds: float = 0.0) -> str:
    config = plan.config
    cpus = cpus or os.cpu_count() or 1
    slots = max(1, cpus // config.resources.train_cpus)
    by_role: dict[str, list] = {}
    for spec in plan.stored_datasets.values():
        by_role.setdefault(spec.role, []).append(spec)
    lines = [f"plan for config '{config.name}' → {out}", "datasets:"]
    if plan.streams:
        lines.append(f"  fresh: {len(plan.streams)} training ranges drawn in the training step (not stored)")
    for role, specs in by_role.items():
        rows = sum(s.rows for s in specs)
        lines.append(f"  {role:5s}: {len(specs)} datasets, {rows:,} rows, {sum(s.n_shards for s in specs)} shards")
    ops = f"{len(config.targets)} operations × " if len(config.targets) > 1 else ""
    swept = sum(1 for a in config.architectures if a.swept)
    entries = len({a.entry for a in config.architectures if a.swept})
    variants = f" ({swept} of them variants of {entries} swept entries)" if swept else ""
    lines.append(
        f"models: {len(plan.models)} = {len(config.train_ranges)} training ranges × {ops}"
        f"{len(config.architectures)} architectures{variants} × {len(config.seeds)} seeds"
    )
    est = estimate(plan, cpus, plan_seconds=plan_seconds)
    bundles = est.bundles
    n_bundles = len(bundles)
    calibrations = calibrations_of(plan)
    for arch in config.architectures:
        sizes = sorted({len(b.models) for b in bundles if b.arch == arch})
        steps = sorted({b.step_size or len(b.models) for b in bundles if b.arch == arch})
        models = [m for m in plan.models if m.arch == arch]
        sizes_text = "–".join(map(str, (sizes[0], sizes[-1]) if len(sizes) > 1 else sizes))
        c = calibrations[arch]
        if c:
            how = f"calibrated here: best {c.best_size}, {c.best_model_steps_per_s:,.0f} model-steps/s per core"
        elif worth_calibrating(len(models), slots) and arch.training_or(config.training).bundle_size is None:
            how = "the first run calibrates the step size"
        else:
            how = "step size from the cache-size formula"
        step_text = f"{steps[0]} per compiled step" if len(steps) == 1 else f"{steps[0]}–{steps[-1]} per compiled step"
        rate = est.sources.get(arch.label(), "")
        lines.append(f"  {arch.label()}: {len(models)} models, bundles of {sizes_text}, {step_text} ({how}; {rate})")
    diagonal = config.evaluation.diagonal
    n_evals = sum(len(m.evals) + (len(diagonal.segments) if diagonal else 0) for m in plan.models)
    lines.append(
        f"tasks: {sum(s.n_shards for s in plan.stored_datasets.values())} generation, {n_bundles} bundle tasks "
        f"(each trains, evaluates and collects its models: {n_evals} model × range evaluations)"
    )
    measured = "this node's measured costs" if est.costs.measured else "default costs (this node has run no study yet)"
    lines.append(
        f"estimate: ~{est.seconds:,.0f} s on {cpus} CPUs of this machine ({plan.n_model_steps:,} model-steps; "
        f"{est.line()}; {measured}), before reuse of earlier outputs"
    )
    lines += [f"warning: {w}" for w in plan.warnings]
    lines.append("dry run: nothing was written")
    return "\n".join(lines)


def refuse_long_run(plan: Plan, cpus: int, where: str) -> None:
    """One line with the estimate when the study would run longer than a day on `cpus` CPUs
    of the Ray it uses (`where`); the caller skips this when the user said --yes."""
    seconds = estimate_seconds(plan, cpus)
    if seconds > LONG_RUN_SECONDS:
        raise UserError(
            f"study '{plan.config.name}' is estimated at ~{_duration(seconds)} ({seconds:,.0f} s, "
            f"{plan.n_model_steps:,} model-steps) on {where} ({cpus} CPUs), more than 24 h: "
            "pass --yes to run it anyway (--dry-run shows the plan)"
        )


def _duration(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:,.0f} h" if hours < 72 else f"{hours / 24:,.0f} days"
