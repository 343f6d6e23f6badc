"""Driver-side stages: submit Ray tasks for what is not complete, wait with progress.

Each stage first asks the store what is already complete (manifests), so a rerun reuses
finished datasets, bundles and evaluations and never trusts partial ones.
"""

from __future__ import annotations

import collections
from dataclasses import asdict, dataclass, field
from typing import Any

import ray

from tasks.cluster import remote
from tasks.cluster.placement import NodeSpreader, Placement
from tasks.cluster.progress import Progress
from tasks.core.errors import UserError
from tasks.data.spec import DatasetSpec
from tasks.evaluation.job import EVALUATION_VERSION, EvalJob
from tasks.jobs.collect import Part, PartJob
from tasks.jobs.generate import finish_dataset
from tasks.model.calibration import Calibration
from tasks.model.settings import TRAIN_VERSION
from tasks.report.aggregates import Summary
from tasks.store import catalog
from tasks.store.catalog import BundleManifest, DatasetManifest, EvalManifest
from tasks.store.storage import Store
from tasks.study.bundles import Bundle, make_bundles, make_eval_job, worth_calibrating
from tasks.study.config import ArchSpec
from tasks.study.plan import ModelSpec, Plan


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


def ensure_datasets(store: Store, specs: dict[str, DatasetSpec]) -> dict[str, DatasetManifest]:
    """Generate every dataset that has no complete manifest; shards in parallel, manifest last."""
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
    for spec in todo:
        entries = [shards[(spec.dataset_id, i)] for i in range(spec.n_shards)]
        manifests[spec.dataset_id] = finish_dataset(store, spec, entries)
    return manifests


@dataclass
class Stages:
    """What the stages produced: each model's bundle, the evaluations, the collected parts."""

    bundles: dict[str, BundleManifest] = field(default_factory=dict)
    evaluations: list[EvalManifest] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)
    summaries: dict[str, Summary] = field(default_factory=dict)  # architecture label → its reduce
    calibration: dict[str, Any] = field(default_factory=dict)  # architecture label → what sized its bundles


def eval_jobs(plan: Plan, done: dict[str, BundleManifest], bundles: list[Bundle]) -> list[EvalJob]:
    """One evaluation per bundle: reused bundles with the plan's models they hold, then fresh ones."""
    reused: dict[str, list[ModelSpec]] = {}
    for m in plan.models:
        if m.model_id in done:
            reused.setdefault(done[m.model_id].bundle_id, []).append(m)
    jobs = [make_eval_job(bundle_id, tuple(models), plan.config) for bundle_id, models in reused.items()]
    return jobs + [make_eval_job(b.bundle_id, b.models, plan.config) for b in bundles]


def part_job(
    job: EvalJob, evaluation: EvalManifest, specs: dict[str, ModelSpec], fit_nrmse: float, tensorboard: bool = False
) -> PartJob:
    """Collection of one evaluation: its models' identity rows from the plan (`specs` by id)."""
    return PartJob(evaluation, tuple(specs[m.model_id].row() for m in job.models), fit_nrmse, tensorboard)


def train_evaluate_collect(
    store: Store, plan: Plan, placement: Placement, reference_range: str | None, tensorboard: bool = False
) -> Stages:
    """Train what is not complete, evaluate each bundle as soon as it is trained, collect
    each evaluation as soon as it is written, and reduce each architecture as soon as its last
    part is in (while the others still train). Training tasks are submitted in waves (at most
    a few per slot in flight), so the driver and Ray's object store hold a bounded amount of
    work however large the study."""
    config = plan.config
    trained = catalog.completed_models(store, TRAIN_VERSION)
    if trained.stale_models:
        print(
            f"[reuse] {store.display()} holds {trained.stale_models} models trained under training version "
            f"{', '.join(map(str, trained.stale_versions))} (this lab's is {TRAIN_VERSION}): "
            "they are not reused; the models this version needs are trained anew"
        )
    evaluated = catalog.EVALUATIONS.other_versions(store, EVALUATION_VERSION)
    if evaluated:
        print(
            f"[reuse] {store.display()} holds {sum(evaluated.values())} evaluations of evaluation version "
            f"{', '.join(map(str, evaluated))} (this lab's is {EVALUATION_VERSION}): "
            "they are not reused; the evaluations this version needs are run anew"
        )
    done = trained.by_model
    todo = [m for m in plan.models if m.model_id not in done]
    calibration = calibrate_sizes(plan, todo, placement)
    measured = {arch: c.best_size for arch, c in calibration.items() if c is not None}
    bundles = make_bundles(plan, todo, placement.slots, placement.on_gpu, measured)
    jobs = {job.bundle_id: job for job in eval_jobs(plan, done, bundles)}
    n_models = len(plan.models)
    print(
        f"[train] {len(todo)} of {n_models} models to train in {len(bundles)} bundles "
        f"({placement.slots} at a time, {'GPU' if placement.on_gpu else 'CPU'}); {n_models - len(todo)} reused"
    )
    progress = {
        "train": Progress("train", len(bundles), "bundles"),
        "evaluate": Progress("evaluate", len(jobs), "evaluations"),
        "collect": Progress("collect", len(jobs), "parts"),
    }
    specs = {m.model_id: m for m in plan.models}
    parts_of = collections.Counter(specs[job.models[0].model_id].row()["unit_label"] for job in jobs.values())
    order = {job.eval_id: i for i, job in enumerate(jobs.values())}
    progress["summarise"] = Progress("summarise", len(parts_of), "architectures")
    arch_parts: dict[str, list[Part]] = {}
    wanted = {m.model_id for m in plan.models}
    out = Stages(bundles={m: b for m, b in done.items() if m in wanted})
    out.calibration = {
        arch.label(): asdict(c) if c is not None else "sized by the cache-size formula: no calibration answered in time"
        for arch, c in calibration.items()
    }
    stream = _Stream()
    # one spreader per kind: sharing one, alternating evaluate and collect would pin each kind to one node
    spread = {"evaluate": NodeSpreader(), "collect": NodeSpreader()}
    fit_nrmse = config.evaluation.fit_nrmse

    def evaluate(job: EvalJob) -> None:
        manifest = catalog.EVALUATIONS.current(store, job.eval_id, EVALUATION_VERSION)
        if manifest is not None:  # reused
            progress["evaluate"].skip(1)
            collect(job, manifest)
            return
        specs = {e.dataset_id: plan.datasets[e.dataset_id] for m in job.models for e in m.evals}
        stream.add(remote.submit(remote.evaluate, store, job, specs, **spread["evaluate"].options()), "evaluate", job)

    def collect(job: EvalJob, manifest: EvalManifest) -> None:
        out.evaluations.append(manifest)
        task = part_job(job, manifest, specs, fit_nrmse, tensorboard)
        stream.add(remote.submit(remote.collect_part, store, task, **spread["collect"].options()), "collect", job)

    fresh = {b.bundle_id for b in bundles}
    for job in jobs.values():
        if job.bundle_id not in fresh:
            evaluate(job)
    waiting = collections.deque(bundles)
    in_flight_cap = 2 * placement.slots + 1
    while waiting or stream:
        while waiting and stream.count("train") < in_flight_cap:
            b = waiting.popleft()
            ref = placement.submit(store, b, _specs_for_bundle(plan, b), config.evaluation.probe_rows)
            stream.add(ref, "train", b)
        kind, key, result = stream.next()
        progress[kind].advance()
        if kind == "train":
            for member in result.members:
                out.bundles[member.model_id] = result
            evaluate(jobs[key.bundle_id])
        elif kind == "evaluate":
            collect(key, result)
        elif kind == "collect":
            out.parts.append(result)
            group = arch_parts.setdefault(result.arch_label, [])
            group.append(result)
            if len(group) == parts_of[result.arch_label]:  # the reduce of this architecture can start
                group.sort(key=lambda p: order[p.eval_id])  # the plan's order, not completion's (its operations')
                ref = remote.submit(remote.summarise, store, group, reference_range, **spread["collect"].options())
                stream.add(ref, "summarise", result.arch_label)
        else:
            out.summaries[key] = result
    for p in progress.values():
        p.finish()
    return out


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
            print(
                f"[calibrate] {arch.label()}: {c.best_size} models per bundle, {c.best_model_steps_per_s:,.0f} "
                f"model-steps/s on {c.device} ({how})"
            )
        else:
            ray.cancel(ref, force=True)
            out[arch] = None
            print(f"[calibrate] {arch.label()}: no answer in {CALIBRATION_TIMEOUT_S:.0f} s; the formula's size")
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
