"""How fast an architecture's models train on this node kind, for sizing bundles and for the
dry run (pure, but for the node's cached measurements): the rate measured inside earlier
studies' tasks at the step size used, else the bundle-size calibration's, else an assumed one.
"""

from __future__ import annotations

import itertools
import math

from tasks.model.calibration import Calibration, shape_key
from tasks.model.settings import TrainingConfig
from tasks.study.config import ArchSpec
from tasks.study.costs import Costs
from tasks.study.plan import ModelSpec, Plan

# Training throughput per CPU slot assumed for an architecture this machine has measured in
# no way yet (the article's model runs at 100–150k on one core of an AMD EPYC or an Intel
# Xeon; wider or stacked units are slower).
BENCH_MODEL_STEPS_PER_S_PER_CPU = 100_000


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


def arch_shape(plan: Plan, arch: ArchSpec, on_gpu: bool = False) -> str:
    """The key of `arch`'s training step shape on this node kind (as the calibration keys it)."""
    training = arch.training_or(plan.config.training)
    n_inputs = plan.config.target.n_inputs
    return shape_key(arch.arch, arch.params, n_inputs, training.batch_size, training.optimizer, on_gpu, training.fresh)


def unwatched_rate(costs: Costs, calibration: Calibration | None, shape: str, step: int) -> tuple[float, str]:
    """Model-steps/s per CPU at `step` members per compiled step, as if nothing were watched,
    and where it comes from: studies' tasks at a step size within 1.5× of it, else the
    calibration's sweep (at that size, else its best), else the assumed rate."""
    measured = costs.rates.get(shape, {})
    observed = {k: v for k, v in measured.items() if step / 1.5 <= int(k) <= step * 1.5}
    if observed:
        nearest = min(observed, key=lambda k: abs(int(k) - step))
        return observed[nearest], f"rate measured in studies' tasks at {nearest} per step"
    sweep = calibration.sweep if calibration is not None else None
    if measured and sweep:  # what a study pays beyond the calibration's arithmetic (memory, its
        # evaluations) carries over to other step sizes: the calibration's ratio between the two
        nearest = min(measured, key=lambda k: abs(math.log(int(k) / step)))
        scaled = measured[nearest] * sweep_rate(sweep, step) / sweep_rate(sweep, int(nearest))
        return scaled, f"rate measured in studies' tasks at {nearest} per step, scaled to {step} by the calibration"
    if sweep:
        return sweep_rate(sweep, step), "rate calibrated here"
    return BENCH_MODEL_STEPS_PER_S_PER_CPU, "rate assumed"


def sweep_rate(sweep: dict[str, float], step: int) -> float:
    """The calibration's rate at `step` members per step: between two measured sizes, linear
    in log(size); below the smallest, in proportion to the size (fewer members, less
    vectorization); above the largest, the largest's."""
    points = sorted((int(k), v) for k, v in sweep.items())
    if step <= points[0][0]:
        return points[0][1] * step / points[0][0]
    for (k0, v0), (k1, v1) in itertools.pairwise(points):
        if k0 <= step <= k1:
            t = math.log(step / k0) / math.log(k1 / k0)
            return v0 + t * (v1 - v0)
    return points[-1][1]


def model_train_seconds(plan: Plan, arch: ArchSpec, models: list[ModelSpec], rate: float) -> float:
    """Seconds of one model's training in its task at `rate` model-steps/s per CPU, with
    what it watches at each log step."""
    training = arch.training_or(plan.config.training)
    cpus = plan.config.resources.train_cpus
    return training.steps * watch_overhead(plan, models, training) / (rate * cpus)


def train_seconds(
    plan: Plan,
    arch: ArchSpec,
    models: list[ModelSpec],
    costs: Costs,
    calibration: Calibration | None,
    step: int,
    on_gpu: bool = False,
) -> tuple[float, str]:
    """One model's training seconds in its task at `step` members per compiled step, and
    where its rate comes from: a rate measured inside studies' tasks holds every cost of the
    steps; a calibrated or assumed one times the arithmetic alone, so each compiled step's
    calls at every log point (`costs.step_of` the shape) are added, shared by its members."""
    shape = arch_shape(plan, arch, on_gpu)
    rate, source = unwatched_rate(costs, calibration, shape, step)
    seconds = model_train_seconds(plan, arch, models, rate)
    if not source.startswith("rate measured"):
        training = arch.training_or(plan.config.training)
        seconds += costs.step_of(shape) * -(-training.steps // training.log_every) / step
    return seconds, source


def test_rows(plan: Plan, model: ModelSpec) -> float:
    """Rows a model is evaluated on (each evaluation set and the diagonal's points), counted
    as rows of the article's two inputs: a row of 100 inputs is read, and evaluated, at about
    50 times the cost (an ICLR bundle's evaluation was estimated 30× short on raw rows)."""
    diagonal = plan.config.evaluation.diagonal
    rows = len(model.evals) * plan.config.evaluation.size + (diagonal.points if diagonal else 0)
    return rows * max(1.0, model.target.n_inputs / 2)


def window_bytes(plan: Plan, datasets: tuple[str, ...], fresh: bool) -> float:
    """Bytes of training rows a bundle task reads before its first step: each of its datasets
    whole (float32, a stored y last), none where batches are drawn in the step."""
    if fresh:
        return 0.0
    return float(sum(plan.datasets[d].rows * (plan.datasets[d].n_inputs + 1) * 4 for d in datasets))
