"""How long a study takes: the estimate the dry run states, a run is checked against (more
than a day asks for --yes) and a nightly lock's lifetime derives from (pure, but for reading
this machine's bundle-size calibrations)."""

from __future__ import annotations

from tasks.model.calibration import cached_for
from tasks.model.settings import TrainingConfig
from tasks.study.plan import ModelSpec, Plan

# Training throughput per CPU slot assumed for an architecture this machine has not calibrated
# yet (the article's model runs at 100–150k on one core of an AMD EPYC or an Intel Xeon; wider
# or stacked units are slower); only the estimates use it.
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


def calibrations_of(plan: Plan) -> dict:
    """This machine's cached bundle-size calibration of each architecture (None: none yet)."""
    config = plan.config
    return {
        arch: cached_for(arch.arch, arch.params, arch.training_or(config.training), config.target)
        for arch in config.architectures
    }


def training_seconds(plan: Plan, arch, cpus: int, calibration) -> float:
    """About how long `arch`'s models of the plan train on `cpus` CPUs: their model-steps (and
    what they watch at each log step) at the calibrated rate, else the assumed one."""
    config = plan.config
    slots = max(1, cpus // config.resources.train_cpus)
    per_cpu = calibration.best_model_steps_per_s if calibration else BENCH_MODEL_STEPS_PER_S_PER_CPU
    models = [m for m in plan.models if m.arch == arch]
    training = arch.training_or(config.training)
    steps = len(models) * training.steps
    return steps * watch_overhead(plan, models, training) / (per_cpu * config.resources.train_cpus * slots)


def estimate_seconds(plan: Plan, cpus: int) -> float:
    """The dry run's estimate of a whole run on `cpus` CPUs, before reuse of earlier outputs."""
    calibrations = calibrations_of(plan)
    train = sum(training_seconds(plan, arch, cpus, calibrations[arch]) for arch in plan.config.architectures)
    return train + RAY_START_SECONDS
