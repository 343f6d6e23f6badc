"""Driver-side stages: submit Ray tasks for what is not complete, wait with progress.

Each stage first asks the store what is already complete (manifests), so a rerun reuses
finished datasets, bundles and evaluations and never trusts partial ones.
"""

from __future__ import annotations

import collections
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import ray

from tasks.cluster import remote
from tasks.cluster.placement import NodeSpreader, Placement
from tasks.cluster.progress import Progress
from tasks.core import logs
from tasks.core.errors import UserError
from tasks.data.spec import DatasetSpec
from tasks.evaluation.job import EVALUATION_VERSION, EvalJob
from tasks.jobs.bundle import BundleTask
from tasks.jobs.collect import Part
from tasks.jobs.generate import finish_dataset
from tasks.model.calibration import Calibration
from tasks.model.settings import TRAIN_VERSION
from tasks.report.aggregates import Summary
from tasks.store import catalog
from tasks.store.catalog import BundleManifest, DatasetManifest
from tasks.store.storage import Store
from tasks.study.bundles import Bundle, make_bundles, make_eval_job, resumed_bundles, worth_calibrating
from tasks.study.config import ArchSpec
from tasks.study.costs import Costs, load_costs
from tasks.study.observe import with_overheads
from tasks.study.plan import ModelSpec, Plan
from tasks.study.rates import arch_shape, sweep_rate, test_rows, watch_overhead, window_bytes

LOG = logs.get("orchestrate")


def wait_all(refs: dict[Any, ray.ObjectRef], progress: Progress) -> dict[Any, Any]:
    """Results keyed like `refs`, advancing `progress` as each task finishes."""
    by_ref = {ref: key for key, ref in refs.items()}
    pending, results = list(by_ref), {}
    while pending:
        ready, pending = ray.wait(pending, num_returns=1, timeout=None)
        for ref in ready:
            try:
                results[by_ref[ref]] = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:
                if isinstance(exc.cause, UserError):
                    raise exc.cause from None  # e.g. a corrupted file: one clear line, not a remote traceback
                raise
            progress.advance()
    progress.finish()
    return results


def ensure_datasets(
    store: Store, specs: dict[str, DatasetSpec], generated: list[DatasetSpec] | None = None
) -> dict[str, DatasetManifest]:
    """Generate every dataset that has no complete manifest; shards in parallel, manifest last
    (`generated`: told which were generated)."""
    manifests, todo = {}, []
    for ds_id, spec in specs.items():
        m = catalog.complete_dataset(store, spec)
        if m is None:
            todo.append(spec)
        else:
            manifests[ds_id] = m
    spread = NodeSpreader()
    refs = {
        (spec.dataset_id, i): remote.submit(remote.generate_shard, store, spec, i, **spread.options())
        for spec in todo
        for i in range(spec.n_shards)
    }
    progress = Progress("data", sum(s.n_shards for s in specs.values()), "shards")
    progress.skip(sum(s.n_shards for s in specs.values()) - len(refs))
    shards = wait_all(refs, progress)
    if generated is not None:
        generated.extend(todo)
    for spec in todo:
        entries = [shards[(spec.dataset_id, i)] for i in range(spec.n_shards)]
        manifests[spec.dataset_id] = finish_dataset(store, spec, entries)
    return manifests


@dataclass
class Stages:
    """What the stages produced: the evaluations and parts collected, the reduces, and what
    the run's bundle tasks measured of themselves."""

    eval_ids: list[str] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)
    summaries: dict[str, Summary] = field(default_factory=dict)  # architecture label → its reduce
    calibration: dict[str, Any] = field(default_factory=dict)  # architecture label → what sized its bundles
    n_trained: int = 0  # models trained by this run
    n_bundles: int = 0  # bundles holding the plan's models
    tasks: list[dict[str, Any]] = field(default_factory=list)  # each bundle task's seconds by part, and facts
    reduces: list[list[float]] = field(default_factory=list)  # each reduce's [models, seconds]
    costs: Costs = field(default_factory=Costs)  # the node's costs the bundles were sized with
    measure: float = 0.0  # seconds waiting for this node's calibrations and cost measurement


def eval_jobs(plan: Plan, done: dict[str, BundleManifest], bundles: list[Bundle]) -> list[EvalJob]:
    """One evaluation per bundle: reused bundles with the plan's models they hold, then fresh ones."""
    jobs = [make_eval_job(b.bundle_id, b.models, plan.config) for b in stored_bundles(plan, done)]
    return jobs + [make_eval_job(b.bundle_id, b.models, plan.config) for b in bundles]


def stored_bundles(plan: Plan, done: dict[str, BundleManifest]) -> list[Bundle]:
    """The stored bundles holding models of the plan, each with those models (in plan order)."""
    held: dict[str, list[ModelSpec]] = {}
    for m in plan.models:
        if m.model_id in done:
            held.setdefault(done[m.model_id].bundle_id, []).append(m)
    return [
        Bundle(bundle_id, models[0].arch, tuple(models), models[0].arch.training_or(plan.config.training))
        for bundle_id, models in held.items()
    ]


def train_evaluate_collect(
    store: Store, plan: Plan, placement: Placement, reference_range: str | None, tensorboard: bool = False
) -> Stages:
    """Train, evaluate and collect each bundle in one task (tasks.jobs.bundle), and reduce
    each architecture as soon as its last part is in (while the others still train). Stored
    bundles whose evaluation or collection is not current go through the same task without
    training. Tasks are submitted in waves (at most a few per slot in flight), so the driver
    and Ray's object store hold a bounded amount of work however large the study."""
    config = plan.config
    trained = catalog.completed_models(store, TRAIN_VERSION)
    if trained.stale_models:
        LOG.info(
            f"[reuse] {store.display()} holds {trained.stale_models} models trained under training version "
            f"{', '.join(map(str, trained.stale_versions))} (this lab's is {TRAIN_VERSION}): "
            "they are not reused; the models this version needs are trained anew"
        )
    for version, steps in trained.stale_checkpoints.items():  # hours of training a silent restart would lose
        LOG.warning(
            f"[checkpoint] {store.display()} holds checkpoints of {len(steps)} unfinished bundles saved by training "
            f"version {version} (at steps {steps[0]:,}–{steps[-1]:,}; this lab's is {TRAIN_VERSION}): this version "
            f"cannot resume them and trains its bundles from step 0; to finish them, run the lab version that "
            f"saved them on this folder"
        )
    evaluated = catalog.EVALUATIONS.other_versions(store, EVALUATION_VERSION)
    if evaluated:
        LOG.info(
            f"[reuse] {store.display()} holds {sum(evaluated.values())} evaluations of evaluation version "
            f"{', '.join(map(str, evaluated))} (this lab's is {EVALUATION_VERSION}): "
            "they are not reused; the evaluations this version needs are run anew"
        )
    done = trained.by_model
    todo = [m for m in plan.models if m.model_id not in done]
    costs = load_costs(placement.on_gpu)
    measuring = time.perf_counter()
    overheads = measure_overheads(plan, todo, placement, costs)
    calibration = calibrate_sizes(plan, todo, placement)
    costs = with_overheads(costs, _answer(overheads, "[measure] evaluation and collection costs"))
    measure = time.perf_counter() - measuring
    measured = {arch: c.best_size for arch, c in calibration.items() if c is not None}
    resumed, rest = resumed_bundles(plan, todo, trained.unfinished)
    if resumed:
        steps = sorted(u.step for u in trained.unfinished if u.bundle_id in {b.bundle_id for b in resumed})
        LOG.info(
            f"[checkpoint] {len(resumed)} unfinished bundles ({sum(len(b.models) for b in resumed)} models, at steps "
            f"{steps[0]:,}–{steps[-1]:,}) resume from their checkpoints as they were planned"
        )
    bundles = resumed + make_bundles(plan, rest, placement.slots, placement.on_gpu, measured, costs, calibration)
    stored = stored_bundles(plan, done)
    n_models = len(plan.models)
    LOG.info(
        f"[train] {len(todo)} of {n_models} models to train in {len(bundles)} bundles "
        f"({placement.slots} at a time, {'GPU' if placement.on_gpu else 'CPU'}); {n_models - len(todo)} reused"
    )
    progress = {
        "train": Progress("train", len(bundles), "bundles"),
        "evaluate": Progress("evaluate", len(stored), "stored bundles"),
    }
    parts_of = collections.Counter(b.arch.label() for b in (*stored, *bundles))
    models_of = collections.Counter()
    for b in (*stored, *bundles):
        models_of[b.arch.label()] += len(b.models)
    order = {b.bundle_id: i for i, b in enumerate((*stored, *bundles))}  # the plan's order, for the reduces
    progress["summarise"] = Progress("summarise", len(parts_of), "architectures")
    for p in progress.values():
        if not p.total:
            p.finish()  # a stage with nothing to do says so now, not after the summaries' line
    arch_parts: dict[str, list[tuple[str, Part]]] = {}
    out = Stages(n_bundles=len(stored) + len(bundles), costs=costs, measure=measure)
    out.calibration = {
        arch.label(): asdict(c) if c is not None else "sized by the cache-size formula: no calibration answered in time"
        for arch, c in calibration.items()
    }
    stream = _Stream()
    spread = NodeSpreader()  # stored bundles: evaluation tasks of one CPU, spread over the nodes

    def task(b: Bundle) -> BundleTask:
        specs_b, minutes = _specs_for_bundle(plan, b), config.resources.checkpoint_minutes
        return BundleTask(b, specs_b, config.evaluation, config.data.distribution, tensorboard, minutes)

    def facts(b: Bundle, seconds: dict[str, float], submitted: float, queued: bool) -> dict[str, Any]:
        """What a finished task says of itself, with what the plan knows of its bundle."""
        training = b.arch.training_or(config.training)
        step = b.step_size or len(b.models)
        return {
            **seconds,
            "dispatch": max(0.0, seconds["began"] - submitted),
            "queued": queued,
            "models": len(b.models),
            "steps": training.steps,
            "test_rows": test_rows(plan, b.models[0]),
            "read_bytes": window_bytes(plan, b.datasets, training.fresh),
            "trained": "train" in seconds,
            "shape": arch_shape(plan, b.arch, placement.on_gpu),
            "step": step,
            "watch": watch_overhead(plan, list(b.models), training),
            "train_cpus": config.resources.train_cpus,
            "logs": -(-training.steps // training.log_every),
            "rate_ref": sweep_rate(c.sweep, b.step_size or len(b.models))
            if (c := calibration.get(b.arch)) and c.sweep
            else 0.0,
        }

    waiting = collections.deque([("evaluate", b) for b in stored] + [("train", b) for b in bundles])
    in_flight_cap = 2 * placement.slots + 1
    started = time.time()
    while waiting or stream:
        while waiting and (in_flight := stream.count("train") + stream.count("evaluate")) < in_flight_cap:
            kind, b = waiting.popleft()
            if kind == "train":
                ref = placement.submit(store, task(b), whole=True)
            else:
                ref = remote.submit(remote.run_bundle_cpu, store, task(b), num_cpus=1, **spread.options())
            stream.add(ref, kind, (b, time.time(), in_flight >= placement.slots))
        kind, key, result = stream.next()
        progress[kind].advance()
        if kind == "summarise":
            out.summaries[key], seconds = result
            out.reduces.append([models_of[key], seconds])
            continue
        bundle, submitted, queued = key
        out.eval_ids.append(result.eval_id)
        out.parts.append(result.part)
        out.n_trained += result.n_models if result.trained_at >= started else 0
        out.tasks.append(facts(bundle, result.seconds, submitted, queued))
        label = result.part.arch_label
        group = arch_parts.setdefault(label, [])
        group.append((bundle.bundle_id, result.part))
        if len(group) == parts_of[label]:  # the reduce of this architecture can start
            parts = [p for _, p in sorted(group, key=lambda g: order[g[0]])]  # the plan's order (its operations')
            ref = remote.submit(remote.summarise, store, parts, reference_range, **spread.options())
            stream.add(ref, "summarise", label)
    for p in progress.values():
        p.finish()
    return out


def measure_overheads(plan: Plan, todo: list[ModelSpec], placement: Placement, costs: Costs) -> ray.ObjectRef | None:
    """The evaluation and collection costs of a bundle on the node kind that trains (a task:
    tasks.jobs.overheads), where this node has not measured them and the bundle sizes depend
    on them (a group larger than a few models per slot, of automatic size)."""
    if "evaluate" in costs.measured or not any(
        a.training_or(plan.config.training).bundle_size is None and worth_calibrating(n, placement.slots)
        for a, n in collections.Counter(m.arch for m in todo).items()
    ):
        return None
    function = remote.measure_overheads_gpu if placement.on_gpu else remote.measure_overheads_cpu
    return remote.submit(function, **placement.options())


def _answer(ref: ray.ObjectRef | None, said: str) -> Any:
    """The result of a measurement task, or None when it did not answer in time."""
    if ref is None:
        return None
    ready, _ = ray.wait([ref], timeout=CALIBRATION_TIMEOUT_S)
    if not ready:
        ray.cancel(ref, force=True)
        LOG.info(f"{said}: no answer in {CALIBRATION_TIMEOUT_S:.0f} s; default costs")
        return None
    result = _get(ref)
    costs = ", ".join(f"{k} {a * 1000:.1f} ms + {b * 1e6:.2f} µs per unit" for k, (a, b) in result.items())
    LOG.info(f"{said}: {costs}")
    return result


CALIBRATION_TIMEOUT_S = 180.0  # a node kind that cannot calibrate by then gets the formula's size


def calibrate_sizes(plan: Plan, todo: list[ModelSpec], placement: Placement) -> dict[ArchSpec, Calibration | None]:
    """The best bundle size of each architecture to train, measured on the kind of node its
    bundles will train on (a task with the training's resources; the node's cache answers at
    once after the first time). Architectures with an explicit bundle_size are left alone; a
    calibration that does not answer in time (no such node yet, say) leaves the formula, and so
    do groups small enough that balancing them over the slots decides the size anyway."""
    counts = collections.Counter(m.arch for m in todo)
    archs = [
        a
        for a, n in counts.items()
        if a.training_or(plan.config.training).bundle_size is None and worth_calibrating(n, placement.slots)
    ]
    if not archs:
        return {}
    function = remote.calibrate_gpu if placement.on_gpu else remote.calibrate_cpu
    refs = {
        arch: remote.submit(
            function,
            arch.arch,
            arch.params,
            arch.training_or(plan.config.training),
            plan.config.target,
            placement.on_gpu,
            **placement.options(),
        )
        for arch in archs
    }
    ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=CALIBRATION_TIMEOUT_S)
    out: dict[ArchSpec, Calibration | None] = {}
    for arch, ref in refs.items():
        if ref in ready:
            out[arch] = c = _get(ref)
            how = "cached" if c.cached else f"measured in {c.seconds:.0f} s"
            LOG.info(
                f"[calibrate] {arch.label()}: {c.best_size} models per compiled step, {c.best_model_steps_per_s:,.0f} "
                f"model-steps/s on {c.device} ({how})"
            )
        else:
            ray.cancel(ref, force=True)
            out[arch] = None
            LOG.warning(f"[calibrate] {arch.label()}: no answer in {CALIBRATION_TIMEOUT_S:.0f} s; the formula's size")
    return out


class _Stream:
    """Tasks in flight, each with its stage and key; `next` waits for the first to finish."""

    def __init__(self) -> None:
        self.refs: dict[ray.ObjectRef, tuple[str, Any]] = {}

    def __bool__(self) -> bool:
        return bool(self.refs)

    def add(self, ref: ray.ObjectRef, kind: str, key: Any) -> None:
        self.refs[ref] = (kind, key)

    def count(self, kind: str) -> int:
        return sum(1 for k, _ in self.refs.values() if k == kind)

    def next(self) -> tuple[str, Any, Any]:
        (ready,), _ = ray.wait(list(self.refs), num_returns=1)
        kind, key = self.refs.pop(ready)
        return kind, key, _get(ready)


def _get(ref: ray.ObjectRef) -> Any:
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, UserError):
            raise exc.cause from None  # e.g. a corrupted file: one clear line, not a remote traceback
        raise


def study_summary(plan: Plan, stages: Stages) -> Summary:
    """The study's aggregates: the architectures' reduces (run as their parts came in),
    combined in the config's order."""
    order = [a.label() for a in plan.config.architectures]
    return Summary.combine([stages.summaries[a] for a in order if a in stages.summaries])


def _specs_for_bundle(plan: Plan, bundle: Bundle) -> dict[str, DatasetSpec]:
    probe_sets = (e.dataset_id for m in bundle.models for e in m.evals)
    return {d: plan.datasets[d] for d in (*bundle.datasets, *bundle.val_datasets, *probe_sets)}
