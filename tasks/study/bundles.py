"""Units of work: models grouped into training bundles, and each bundle's evaluation job (pure).

A bundle is K models of one architecture trained as one computation; its id is the hash of
its members, so any grouping of the same models gives the same models and metrics. What an
evaluation is, and its id, is tasks.evaluation.job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from tasks.core.hardware import l2_cache_bytes
from tasks.core.ids import content_id
from tasks.data.targets import TargetSpec
from tasks.evaluation.job import EvalJob
from tasks.model import registry
from tasks.model.calibration import Calibration
from tasks.model.settings import TrainingConfig
from tasks.study.config import ArchSpec, Config, EvaluationConfig
from tasks.study.costs import Costs, members_for_fixed_share, per_model, task_fixed
from tasks.study.plan import ModelSpec, Plan
from tasks.study.rates import arch_shape, test_rows, train_seconds, watch_overhead


@dataclass(frozen=True)
class Bundle:
    bundle_id: str
    arch: ArchSpec
    models: tuple[ModelSpec, ...]
    training: TrainingConfig
    step_size: int | None = None  # members per compiled step (None: all of them; tasks.model.chunked)

    @property
    def first_window(self) -> int:
        """Members share their window order (bundles are grouped by it)."""
        return self.models[0].first_window

    @property
    def datasets(self) -> tuple[str, ...]:
        """Distinct training datasets, in first-use order; members index into this."""
        return tuple(dict.fromkeys(m.train_dataset for m in self.models))

    @property
    def val_datasets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.val_dataset for m in self.models))


def make_eval_job(bundle_id: str, models: tuple[ModelSpec, ...], config: Config) -> EvalJob:
    """Evaluation of `models` (all trained in bundle `bundle_id`) as `config` asks for it."""
    return eval_job_of(bundle_id, models, config.evaluation, config.data.distribution)


def eval_job_of(
    bundle_id: str, models: tuple[ModelSpec, ...], evaluation: EvaluationConfig, distribution: str
) -> EvalJob:
    """Evaluation of `models` (all trained in bundle `bundle_id`) with these settings."""
    evaluated = tuple(m.evaluated() for m in models)
    return EvalJob.of(bundle_id, evaluated, evaluation.diagonal, evaluation.success, distribution, evaluation.horizon)


def step_target(target: TargetSpec, fresh: bool = False) -> TargetSpec | None:
    """What the training step computes of a target: nothing where the shards store y (members
    of several operations then share a bundle, each reading its own dataset's y), the target
    itself where y is computed in the step from the member's layout or from fresh draws."""
    return target if fresh or target.target.per_model(target.params) else None


GPU_ACTIVATION_BUDGET = 1 << 26  # float32 activations per step: 256 MB, fits a quarter of a 16 GB GPU
MAX_BUNDLE = {"cpu": 128, "gpu": 4096}


SMALL_GROUP = 8  # at most this many models per slot: balancing them decides the size, nothing to measure


def worth_calibrating(n_models: int, slots: int) -> bool:
    """Whether measuring the best bundle size could change this group's bundles."""
    return n_models > SMALL_GROUP * max(1, slots)


def auto_bundle_size(
    width: int,
    batch: int,
    n_models: int,
    slots: int,
    on_gpu: bool = False,
    l2_bytes: int | None = None,
    measured: int | None = None,
) -> int:
    """Members per bundle: the `measured` best size of this machine kind when a calibration
    ran (tasks.model.calibration), else a conservative formula — on a CPU few enough that one
    step's activations (K × batch × width floats) stay within about twice the core's L2 cache,
    on a GPU enough to fill it; and never so many that fewer bundles than slots leave some idle."""
    if measured:
        cap = measured
    elif on_gpu:
        cap = max(1, min(MAX_BUNDLE["gpu"], GPU_ACTIVATION_BUDGET // max(1, width * batch)))
    else:
        budget = 2 * (l2_bytes or l2_cache_bytes()) // 4
        cap = max(1, min(MAX_BUNDLE["cpu"], budget // max(1, width * batch)))
    balanced = -(-n_models // max(1, slots))
    return max(1, min(cap, balanced))


def step_for_short_training(
    sweep: dict[str, float], best: int, balanced: int, steps: float, logs: int, overhead: float
) -> int:
    """Members per compiled step when each step's calls cost `overhead` seconds per log point
    beyond their arithmetic (a short training makes few steps: that overhead then outweighs
    the calibrated size's small gain), the calibration's size with the fewest seconds per
    model: `steps` (watched) model-steps at its rate, plus its share of the overhead."""

    def per_model(k: int) -> float:
        return steps / sweep[str(k)] + overhead * logs / k

    sizes = [int(k) for k in sweep if int(k) <= balanced] or [best]
    return min(sizes, key=lambda k: (per_model(k) if str(k) in sweep else float("inf"), -k))


def task_size(step: int, n_models: int, slots: int, fixed: float, model: float) -> int:
    """Members per training task: whole compiled steps enough that the task's fixed seconds
    are at most FIXED_SHARE of it (`model`: one member's seconds in the task), never more
    than spreads the models over every slot; at least one step."""
    want = members_for_fixed_share(fixed, model)
    balanced = -(-n_models // max(1, slots))
    return max(step, min(-(-want // step) * step, balanced))


class SavedLayout(Protocol):
    """An unfinished bundle's planning as its checkpoint recorded it (tasks.store.catalog.Unfinished)."""

    bundle_id: str
    members: tuple[str, ...]
    step_size: int | None
    step: int


def resumed_bundles(
    plan: Plan, todo: list[ModelSpec], unfinished: Sequence[SavedLayout]
) -> tuple[list[Bundle], list[ModelSpec]]:
    """The unfinished bundles whose checkpoints this run can resume, as they were planned, and
    the models left to bundle. A rerun may size bundles differently (its node's costs were
    learned meanwhile); grouping their models anew would make new bundles and lose the hours
    their checkpoints hold. A saved layout is kept when all its members are still to train
    and it is a bundle this plan could make (one group, the same id)."""
    by_id = {m.model_id: m for m in todo}
    kept: list[Bundle] = []
    taken: set[str] = set()
    for saved in sorted(unfinished, key=lambda u: -u.step):
        members = tuple(by_id[i] for i in saved.members if i in by_id)
        if not members or len(members) != len(saved.members) or taken.intersection(saved.members):
            continue
        groups = {_group_key(plan, m) for m in members}
        training = members[0].arch.training_or(plan.config.training)
        same_id = content_id("b", list(saved.members)) == saved.bundle_id
        if len(groups) != 1 or not same_id or training.bundle_size not in (None, saved.step_size):
            continue
        kept.append(Bundle(saved.bundle_id, members[0].arch, members, training, saved.step_size))
        taken.update(saved.members)
    return kept, [m for m in todo if m.model_id not in taken]


def _group_key(plan: Plan, m: ModelSpec) -> tuple[ArchSpec, TargetSpec | None, int]:
    """What members of one bundle share: architecture, what the step computes of the target, window order."""
    return m.arch, step_target(m.target, m.arch.training_or(plan.config.training).fresh), m.first_window


def make_bundles(
    plan: Plan,
    todo: list[ModelSpec],
    slots: int,
    on_gpu: bool = False,
    measured: dict[ArchSpec, int] | None = None,
    costs: Costs | None = None,
    calibrations: dict[ArchSpec, Calibration | None] | None = None,
) -> list[Bundle]:
    """Group models that share architecture, training settings (and so shapes), what the
    training step computes of their target (`step_target`) and window order into bundles of
    near-equal size. The compiled step's size is each group's `training.bundle_size`, else
    chosen automatically (from `measured` best sizes when given); with `costs` (this node's,
    tasks.study.costs) an automatic bundle holds as many whole steps as keep its task's fixed
    cost at most FIXED_SHARE of the task (`task_size`), its members trained a step at a time."""
    groups: dict[tuple[ArchSpec, TargetSpec | None, int], list[ModelSpec]] = {}
    for m in todo:
        groups.setdefault(_group_key(plan, m), []).append(m)
    bundles = []
    for (arch, _, _), members in groups.items():
        training = arch.training_or(plan.config.training)
        step = training.bundle_size
        size = step
        if step is None:
            width = registry.get(arch.arch).width(arch.params) + plan.config.target.n_inputs  # activations + inputs
            best = (measured or {}).get(arch)
            step = size = auto_bundle_size(width, training.batch_size, len(members), slots, on_gpu, measured=best)
            calibration = (calibrations or {}).get(arch)
            if costs is not None and calibration is not None and calibration.sweep and best:
                watched = training.steps * watch_overhead(plan, members, training)
                logs = -(-training.steps // training.log_every)
                step = size = step_for_short_training(
                    calibration.sweep,
                    best,
                    -(-len(members) // slots),
                    watched,
                    logs,
                    costs.step_of(arch_shape(plan, arch, on_gpu)),
                )
            if costs is not None:
                train, _ = train_seconds(plan, arch, members, costs, calibration, step, on_gpu)
                model = per_model(costs, train, test_rows(plan, members[0]))
                size = task_size(step, len(members), slots, task_fixed(costs), model)
        n_bundles = -(-len(members) // size)
        if training.bundle_size is None and size == step:  # whole rounds: 3 bundles on 2 slots idle one
            n_bundles = min(len(members), -(-n_bundles // slots) * slots)
        elif training.bundle_size is None:  # whole rounds of bundles no smaller than their fixed cost wants
            n_bundles = max(min(slots, len(members)), len(members) // size // slots * slots)
        n_steps = -(-len(members) // step)
        for i in range(n_bundles):
            # contiguous, near-equal runs of whole steps: members sharing a training range stay
            # together, so a bundle holds few datasets in memory; only a group's last step is partial
            if n_steps >= n_bundles:
                lo, hi = i * n_steps // n_bundles * step, min(len(members), (i + 1) * n_steps // n_bundles * step)
            else:
                lo, hi = i * len(members) // n_bundles, (i + 1) * len(members) // n_bundles
            chunk = tuple(members[lo:hi])
            bundles.append(Bundle(content_id("b", [m.model_id for m in chunk]), arch, chunk, training, step))
    return bundles
