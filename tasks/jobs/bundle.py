"""All of one bundle's work in one task: train it (unless it is stored), evaluate its models
on every range at once, and collect their rows of the study tables, each stage's outputs
written as its stage writes them (bundle, evaluation, parts; each manifest last).

Nothing is read back that the task just wrote: the weights, curves and probes it trained go
straight to evaluation and collection. A model therefore costs no Ray task of its own, and
a bundle one task. A stored bundle (a rerun after a new evaluation or collection version)
goes through the same path from its stored files: it is evaluated again without training,
or only collected where its evaluation is current.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from tasks.data.spec import DatasetSpec
from tasks.jobs.collect import Part, tables_of, write_part
from tasks.jobs.evaluate import evaluate_job
from tasks.jobs.train import train_bundle_job
from tasks.store import catalog
from tasks.store.storage import Store
from tasks.study.bundles import Bundle, eval_job_of
from tasks.study.config import CHECKPOINT_MINUTES, EvaluationConfig
from tasks.study.plan import identity_columns

EVALUATED = ("metrics", "diagonal", "horizons")  # an evaluation's tables (horizons where searched)


@dataclass(frozen=True)
class BundleTask:
    """One bundle's work. For a stored bundle: its stored id and the plan's models it holds."""

    bundle: Bundle
    datasets: dict[str, DatasetSpec]  # its training, validation and test sets
    evaluation: EvaluationConfig
    distribution: str  # how test inputs are drawn (success rules that sample draw the same way)
    tensorboard: bool = False
    checkpoint_minutes: float = CHECKPOINT_MINUTES  # its training's state saved this often (0: never)


@dataclass(frozen=True)
class BundleDone:
    """What the driver keeps of a finished bundle: counts, ids and the part's files."""

    bundle_id: str
    n_models: int
    trained_at: float  # when its training started (before this run: a stored bundle)
    eval_id: str
    part: Part
    seconds: dict[str, float] = field(default_factory=dict)  # by part of the task (its costs)


def run_bundle(store: Store, task: BundleTask, device: str = "cpu", placement: dict[str, Any] | None = None):
    """Train, evaluate and collect one bundle; see the module docstring."""
    clock = time.perf_counter()
    bundle = task.bundle
    probe_rows, minutes = task.evaluation.probe_rows, task.checkpoint_minutes
    trained = train_bundle_job(store, bundle, task.datasets, device, probe_rows, placement, minutes)
    seconds = dict(trained.seconds)
    manifest = trained.manifest
    job = eval_job_of(bundle.bundle_id, bundle.models, task.evaluation, task.distribution)
    mark = time.perf_counter()
    evaluation, tables = evaluate_job(store, job, task.datasets, manifest, trained.weights, placement)
    seconds["evaluate"] = time.perf_counter() - mark
    mark = time.perf_counter()
    files = evaluation.files
    tables = tables or {name: catalog.read_table(store, files[name]) for name in EVALUATED if name in files}
    for name in ("curves", "probes"):
        stored = getattr(trained, name)
        tables[name] = stored if stored is not None else catalog.read_table(store, manifest.files[name])
    ident = pd.DataFrame(identity_columns(bundle.models))
    rows = tables_of(manifest, ident, tables, task.evaluation.fit_nrmse)
    part = write_part(store, evaluation, rows, bundle.arch.label(), task.tensorboard)
    seconds["collect"] = time.perf_counter() - mark
    seconds["total"] = time.perf_counter() - clock
    return BundleDone(bundle.bundle_id, len(bundle.models), manifest.started, evaluation.eval_id, part, seconds)
