"""How long a study takes: the estimate the dry run states, a run is checked against (more
than a day asks for --yes) and a nightly lock's lifetime derives from (pure, but for reading
this node kind's cached measurements: tasks.model.calibration, tasks.study.costs).

The estimate follows what a run does, phase by phase, each at this node's measured cost:

    plan        making the plan (as long as the dry run's own)
    start       Ray started (or connected to)
    measure     calibrations and cost measurements this node has not cached yet
    data        its shards, over every CPU
    workers     each slot's first task: a worker's start, then one compilation per
                architecture's step shape
    bundles     every bundle task as the run would make them (tasks.study.bundles): its fixed
                part and the reading of its training rows, then per model its training (the
                rate measured in earlier studies' tasks, else calibrated, with what it watches
                at each log step), evaluation and collection; spread over the slots with every
                architecture's reduce but the last
    summarise   the last architecture's reduce, after its last bundle
    results     the results manifest over every part
    report      drawing the report
    launch/stop the command around the study: its own start (imports), stopping its Ray
"""

from __future__ import annotations

from dataclasses import dataclass

from tasks.model.calibration import CANDIDATES, LEADERS, REFINED, WORK_PER_CANDIDATE, cached_for
from tasks.study.bundles import Bundle, make_bundles, worth_calibrating
from tasks.study.costs import DEFAULTS, Costs, load_costs, per_model, read_seconds, report_seconds, task_fixed
from tasks.study.plan import Plan
from tasks.study.rates import (
    BENCH_MODEL_STEPS_PER_S_PER_CPU,
    arch_shape,
    test_rows,
    train_seconds,
    watch_overhead,
    window_bytes,
)

__all__ = [
    "BENCH_MODEL_STEPS_PER_S_PER_CPU",
    "Estimate",
    "estimate",
    "estimate_seconds",
    "sweep_seconds",
    "watch_overhead",
]

OVERHEADS_SECONDS = 5.0  # the evaluation and collection measurement (tasks.jobs.overheads), once per node kind


@dataclass(frozen=True)
class Estimate:
    seconds: float
    phases: dict[str, float]  # the parts above, in order
    bundles: list[Bundle]
    sources: dict[str, str]  # architecture label → where its training rate comes from
    costs: Costs

    def line(self) -> str:
        return ", ".join(f"{name} {seconds:,.0f} s" for name, seconds in self.phases.items() if seconds >= 0.5)


def calibrations_of(plan: Plan, on_gpu: bool = False) -> dict:
    """This machine's cached bundle-size calibration of each architecture (None: none yet)."""
    config = plan.config
    return {
        arch: cached_for(arch.arch, arch.params, arch.training_or(config.training), config.target, on_gpu)
        for arch in config.architectures
    }


def estimate(
    plan: Plan,
    cpus: int,
    costs: Costs | None = None,
    calibrations: dict | None = None,
    on_gpu: bool = False,
    plan_seconds: float = 0.0,
) -> Estimate:
    """The whole run on `cpus` CPUs (before reuse of earlier outputs), phase by phase; by
    default at this node's cached costs and calibrations (`plan_seconds`: what making the
    plan took, which a run does again)."""
    config = plan.config
    costs = costs or load_costs(on_gpu)
    calibrations = calibrations_of(plan, on_gpu) if calibrations is None else calibrations
    slots = max(1, cpus // config.resources.train_cpus)
    phases = {"plan": plan_seconds, "start": costs.start}
    sized = [
        a
        for a in config.architectures
        if a.training_or(config.training).bundle_size is None
        and worth_calibrating(sum(1 for m in plan.models if m.arch == a), slots)
    ]
    to_sweep = [a for a in sized if calibrations.get(a) is None]
    unmeasured = "evaluate" not in costs.measured and bool(sized)
    shapes = {a: arch_shape(plan, a, on_gpu) for a in config.architectures}
    sweeps = [sweep_seconds(costs, shapes[a], on_gpu) for a in to_sweep]
    waves = -(-len(sweeps) // slots)  # the sweeps run side by side, one per slot
    phases["measure"] = (sum(sweeps) / max(1, len(sweeps))) * waves + (OVERHEADS_SECONDS if unmeasured else 0.0)
    shards = sum(s.n_shards for s in plan.stored_datasets.values())
    rows = sum(s.rows for s in plan.stored_datasets.values())
    phases["data"] = (costs.shard[0] * shards + costs.shard[1] * rows) / max(1, cpus)
    measured = {a: c.best_size for a, c in calibrations.items() if c is not None}
    bundles = make_bundles(plan, list(plan.models), slots, on_gpu, measured, costs, calibrations)
    phases["workers"] = costs.worker + sum(costs.compile_of(shapes[a]) for a in {b.arch for b in bundles})
    sources: dict[str, str] = {}
    work = []
    for b in bundles:
        calibration = calibrations.get(b.arch)
        train, sources[b.arch.label()] = train_seconds(
            plan, b.arch, list(b.models), costs, calibration, _step(b), on_gpu
        )
        model = per_model(costs, train, test_rows(plan, b.models[0]))
        read = read_seconds(costs, window_bytes(plan, b.datasets, b.training.fresh))
        work.append(task_fixed(costs) + read + model * len(b.models))
    # each architecture's reduce is a task on a slot once its last bundle is in: the earlier
    # ones share the slots with the bundles still training, the last one runs after them all
    reduces = {
        a: reduce_seconds(costs, sum(len(b.models) for b in bundles if b.arch == a))
        for a in dict.fromkeys(b.arch for b in bundles)
    }
    last = reduces.pop(bundles[-1].arch, 0.0) if bundles else 0.0
    phases["bundles"] = max((sum(work) + sum(reduces.values())) / slots, max(work, default=0.0))
    phases["summarise"] = last
    phases["results"] = costs.results[0] + costs.results[1] * len(bundles)
    phases["report"] = report_seconds(
        costs, len(config.architectures), len(config.train_ranges), config.report.vector_formats
    )
    phases["launch/stop"] = costs.process
    return Estimate(sum(phases.values()), phases, bundles, sources, costs)


def sweep_seconds(costs: Costs, shape: str, on_gpu: bool = False) -> float:
    """One architecture's bundle-size calibration on one slot: what this node's recent sweeps
    took once it has made some (Costs.sweep), else what a sweep of this shape does — each
    candidate size compiled once (at this node's compile time for the shape, where known) and
    every measurement's model-steps at the assumed rate (tasks.model.calibration.calibrate)."""
    if "sweep" in costs.measured:
        return costs.sweep
    sizes = len(CANDIDATES["gpu" if on_gpu else "cpu"]) + REFINED
    timed = (sizes + LEADERS) * WORK_PER_CANDIDATE / BENCH_MODEL_STEPS_PER_S_PER_CPU
    return sizes * costs.compile_of(shape) + timed


EXTRAPOLATE = 10  # how far past the largest reduce measured its learned per-model cost is trusted


def reduce_seconds(costs: Costs, models: int) -> float:
    """An architecture's reduce of `models` models: the learned line, but its per-model part
    only up to EXTRAPOLATE× the largest reduce this node has measured. Beyond, the default's:
    reduces of a few dozen models are all fixed cost and scatter, so a slope fitted to them
    is noise (after small studies only, a 12,000-model study's first estimate put each of its
    reduces of 4,000 models at 88 s; they took 3–5 s)."""
    fixed, slope = costs.reduce
    seen = max((p[0] for p in costs.history.get("reduce", [])), default=0.0)
    if models > EXTRAPOLATE * seen:
        slope = DEFAULTS.reduce[1]
    return fixed + slope * models


def _step(bundle: Bundle) -> int:
    return bundle.step_size or len(bundle.models)


def estimate_seconds(plan: Plan, cpus: int) -> float:
    """The dry run's estimate of a whole run on `cpus` CPUs, before reuse of earlier outputs."""
    return estimate(plan, cpus).seconds
