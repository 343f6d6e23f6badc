"""Driver-side stages: submit Ray tasks for what is not complete, wait with progress.

Each stage first asks the store what is already complete (manifests), so a rerun reuses
finished datasets, bundles and evaluations and never trusts partial ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ray

from tasks.cluster import remote
from tasks.cluster.placement import NodeSpreader, Placement
from tasks.cluster.progress import Progress
from tasks.core.errors import CorruptArtifactError, UserError
from tasks.core.ids import NUMERICS_VERSION
from tasks.data.spec import DatasetSpec
from tasks.jobs.generate import finish_dataset
from tasks.store import catalog
from tasks.store.catalog import BundleManifest, DatasetManifest, EvalManifest
from tasks.store.storage import Store
from tasks.study.bundles import Bundle, EvalJob, make_bundles, make_eval_job
from tasks.study.plan import ModelSpec, Plan


@contextmanager
def invalidating_corrupt(store: Store) -> Iterator[None]:
    """A corrupted artifact found by any stage loses its manifest, so a rerun regenerates it;
    the user is told which file and what happens next."""
    try:
        yield
    except CorruptArtifactError as exc:
        if exc.directory and store.invalidate(exc.directory):
            raise CorruptArtifactError(
                f"{exc}; marked {store.display(exc.directory)} incomplete — rerun to regenerate it", exc.directory
            ) from None
        raise


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


def train_and_evaluate(
    store: Store, plan: Plan, placement: Placement
) -> tuple[dict[str, BundleManifest], list[EvalManifest]]:
    """Train the models that are not complete, evaluate every model; evaluation of a bundle
    starts as soon as its training ends. Returns (model_id -> bundle manifest, eval manifests)."""
    config = plan.config
    trained = catalog.completed_models(store)
    if trained.stale_models:
        print(
            f"[reuse] {store.display()} holds {trained.stale_models} models trained under numerics version "
            f"{', '.join(map(str, trained.stale_versions))} (this lab is version {NUMERICS_VERSION}): "
            "they are not reused; the models this version needs are trained anew"
        )
    done = trained.by_model
    todo = [m for m in plan.models if m.model_id not in done]
    bundles = make_bundles(plan, todo, None, placement.slots, placement.on_gpu)

    train_refs: dict[str, ray.ObjectRef] = {}
    for b in bundles:
        train_refs[b.bundle_id] = placement.submit(store, b, _specs_for_bundle(plan, b), config.evaluation.probe_rows)

    eval_jobs: list[tuple[EvalJob, list[ray.ObjectRef]]] = []
    reused_groups: dict[str, list[ModelSpec]] = {}
    for m in plan.models:
        if m.model_id in done:
            reused_groups.setdefault(done[m.model_id].bundle_id, []).append(m)
    for bundle_id, models in reused_groups.items():
        eval_jobs.append((make_eval_job(bundle_id, tuple(models), config), []))
    for b in bundles:
        eval_jobs.append((make_eval_job(b.bundle_id, b.models, config), [train_refs[b.bundle_id]]))

    eval_refs, reused_evals, spread = {}, [], NodeSpreader()
    for job, after in eval_jobs:
        manifest = catalog.EVALUATIONS.complete(store, job.eval_id)
        if manifest is not None:
            reused_evals.append(manifest)
            continue
        specs = {e.dataset_id: plan.datasets[e.dataset_id] for m in job.models for e in m.evals}
        eval_refs[job.eval_id] = remote.submit(remote.evaluate, store, job, specs, *after, **spread.options())

    n_models = len(plan.models)
    print(
        f"[train] {len(todo)} of {n_models} models to train in {len(bundles)} bundles "
        f"({placement.slots} at a time, {'GPU' if placement.on_gpu else 'CPU'}); {n_models - len(todo)} reused"
    )
    train_progress = Progress("train", len(bundles), "bundles")
    fresh = wait_all(train_refs, train_progress) if bundles else {}
    eval_progress = Progress("evaluate", len(eval_jobs), "evaluations")
    eval_progress.skip(len(reused_evals))
    evaluated = wait_all(eval_refs, eval_progress)

    manifests = dict(done)
    for manifest in fresh.values():
        for member in manifest.members:
            manifests[member.model_id] = manifest
    return manifests, reused_evals + list(evaluated.values())


def _specs_for_bundle(plan: Plan, bundle: Bundle) -> dict[str, DatasetSpec]:
    probe_sets = (e.dataset_id for m in bundle.models for e in m.evals)
    return {d: plan.datasets[d] for d in (*bundle.datasets, *bundle.val_datasets, *probe_sets)}
