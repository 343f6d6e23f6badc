"""From a config to the work: the datasets and the models of a study (pure).

Every item carries a content-derived id, so a rerun finds what is already complete and a
different machine or bundle size never changes a model's identity or its results. How
models are grouped into training tasks is tasks.study.bundles.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tasks.core.ids import canonical_json, content_id, seed_from
from tasks.core.ranges import Ranges, coverage
from tasks.data.spec import DatasetSpec
from tasks.data.targets import PRODUCT, TargetSpec
from tasks.evaluation.job import EvalModel, EvalRange
from tasks.model import registry
from tasks.model.settings import TRAIN_VERSION
from tasks.study.config import ArchSpec, Config, evaluation_ranges


@dataclass(frozen=True)
class ModelSpec:
    model_id: str
    arch: ArchSpec
    seed: int
    train_range: Ranges
    train_dataset: str
    val_dataset: str
    evals: tuple[EvalRange, ...]
    first_window: int = 0  # where this model starts in its dataset's windows (from its seed)
    target: TargetSpec = PRODUCT  # its layout and operation (its datasets' target)
    shows_operation: bool = False  # the study has several operations: labels name this one's

    def evaluated(self) -> EvalModel:
        """What its evaluation needs to know of it."""
        return EvalModel(self.model_id, self.seed, self.train_range, self.evals, self.target)

    def row(self) -> dict[str, Any]:
        """The model's identifying columns for result tables. `arch_label` names what the
        report compares (the architecture, and its operation when the study has several);
        `unit_label` is the architecture's own label."""
        label = _labels(self.arch)[0]
        return {
            "model_id": self.model_id,
            "arch": self.arch.arch,
            "arch_label": series_label(label, self.target, self.shows_operation),
            "unit_label": label,
            "operation": self.target.operation.name,
            "seed": self.seed,
            "train_range": self.train_range.label(),
            "train_lo": self.train_range.lo,
            "train_hi": self.train_range.hi,
            **_labels(self.arch)[1],
        }


def identity_columns(models: Sequence[ModelSpec]) -> dict[str, list[Any]]:
    """`ModelSpec.row()` of many models as columns (the same names, order and values), built
    per run of models that share architecture, target and training range: only the id and
    the seed are per model."""
    columns: dict[str, list[Any]] = {}
    shared = lambda m: (m.arch, m.target, m.shows_operation, m.train_range)  # noqa: E731 (what a run shares)
    for _, grouped in itertools.groupby(models, key=shared):
        run = list(grouped)
        first = run[0].row()
        for name, value in first.items():
            if name == "model_id":
                values: list[Any] = [m.model_id for m in run]
            elif name == "seed":
                values = [m.seed for m in run]
            else:
                values = [value] * len(run)
            columns.setdefault(name, []).extend(values)
    return columns


@dataclass(frozen=True)
class Plan:
    config: Config
    datasets: dict[str, DatasetSpec]
    models: tuple[ModelSpec, ...]

    warnings: tuple[str, ...] = ()  # things a user should know before running (printed by the CLI)
    streams: frozenset[str] = frozenset()  # training sets only models with fresh data use: never stored

    @property
    def stored_datasets(self) -> dict[str, DatasetSpec]:
        """The datasets to generate and store (a fresh-data model's training set is a stream
        drawn in its training step; its spec still names the range it is drawn from)."""
        return {d: spec for d, spec in self.datasets.items() if d not in self.streams}

    @property
    def n_model_steps(self) -> int:
        return sum(m.arch.training_or(self.config.training).steps for m in self.models)


@functools.lru_cache(maxsize=1024)
def _labels(arch: ArchSpec) -> tuple[str, dict[str, Any]]:
    """An architecture's label and parameter columns (shared by its models: computed once)."""
    unit = registry.get(arch.arch)
    return arch.label(), {f"param_{k}": v for k, v in unit.columns(arch.params).items()}


def series_label(arch_label: str, target: TargetSpec, shows_operation: bool) -> str:
    """What the report calls the models of one architecture (on one operation)."""
    return f"{arch_label} on {target.operation.symbol}" if shows_operation else arch_label


def model_ids(identity: dict[str, Any], seeds: tuple[int, ...]) -> list[str]:
    """content_id("m", {**identity, "seed": s}) for every seed, without re-serialising the
    shared part each time (a million-model plan spends its time here): the canonical JSON is
    split at the seed's place, and the first id is checked against the plain computation."""
    marker = -987654321  # an integer that cannot be a seed (seeds are ≥ 0)
    head, tail = canonical_json({**identity, "seed": marker}).split(str(marker))
    ids = ["m-" + hashlib.sha256(f"{head}{s}{tail}".encode()).hexdigest()[:16] for s in seeds]
    if seeds and ids[0] != content_id("m", {**identity, "seed": seeds[0]}):
        raise AssertionError("model id shortcut disagrees with content_id")
    return ids


def make_plan(config: Config) -> Plan:
    datasets: dict[str, DatasetSpec] = {}

    def dataset(role: str, ranges: Ranges, rows: int, target: TargetSpec) -> str:
        d = config.data
        spec = DatasetSpec(role, ranges, d.distribution, rows, min(d.shard_rows, rows), d.seed, target.for_data())
        datasets.setdefault(spec.dataset_id, spec)
        return spec.dataset_id

    models = []
    stored: set[str] = set()  # datasets some model reads rows of
    several = len(config.targets) > 1
    for tr in config.train_ranges:
        for target in config.targets:
            train_ds = dataset("train", tr.range, config.data.train_size, target)
            val_ds = dataset("val", tr.range, config.data.val_size, target)
            stored.add(val_ds)
            evals = tuple(
                EvalRange(
                    "square",
                    r,
                    dataset("test", r, config.evaluation.size, target),
                    coverage(tr.range, r, config.data.distribution, target.n_inputs),
                )
                for r in evaluation_ranges(config, tr)
            )
            stored.update(e.dataset_id for e in evals)
            for arch in config.architectures:
                code = registry.code_identity(arch.arch)
                training = arch.training_or(config.training)
                n_windows = 1 if training.fresh else len(datasets[train_ds].shard_windows(training.window_rows))
                if not training.fresh:
                    stored.add(train_ds)
                identity = {
                    "v": TRAIN_VERSION,
                    "arch": arch.arch,
                    "params": arch.params,
                    "training": training.identity(),
                    "train_dataset": train_ds,  # its target (and operation, where the shards store y)
                    "val_dataset": val_ds,
                    **({"code": code} if code else {}),  # a plugin's source: edits never reuse old models
                    **target.model_identity(),  # the operation, where the datasets do not carry it
                }
                for seed, model_id in zip(config.seeds, model_ids(identity, config.seeds)):
                    first = window_offset(seed, n_windows)
                    spec = ModelSpec(model_id, arch, seed, tr.range, train_ds, val_ds, evals, first, target, several)
                    models.append(spec)
    warnings = data_use_warnings(config) + schedule_warnings(config)
    return Plan(config, datasets, tuple(models), warnings, frozenset(datasets) - frozenset(stored))


def window_offset(seed: int, n_windows: int) -> int:
    """The window a model starts in: spread over the windows by its seed, so a study that
    needs fewer rows than a dataset holds still uses all of it across its models."""
    return seed_from("windows", seed) % n_windows if n_windows > 1 else 0


DATA_USE_WARNING = 0.5  # warn when a model draws fewer rows than this share of its training set


def data_use_warnings(config: Config) -> tuple[str, ...]:
    """Each model draws steps × batch rows (with replacement); when that is well under the
    training set's size, most of the data is never seen by any one model."""
    out = []
    for arch in config.architectures:
        t = arch.training_or(config.training)
        drawn = t.steps * t.batch_size
        if drawn < DATA_USE_WARNING * config.data.train_size and not t.fresh:
            out.append(
                f"{arch.label()}: each model draws {t.steps:,} steps × {t.batch_size} = {drawn:,} rows from a "
                f"training set of {config.data.train_size:,} ({drawn / config.data.train_size:.0%}); "
                "lower data.train_size or raise training.steps to use the data you generate"
            )
    return tuple(out)


def schedule_warnings(config: Config) -> tuple[str, ...]:
    """A part of a unit scheduled to start at or after the last step (the NMU's sparsity
    regulariser with its default start of 20,000 in a 3,000-step study, say) never acts."""
    out = []
    for arch in config.architectures:
        training, own = arch.training_or(config.training), json.loads(arch.overrides_json)
        steps_key = f"architectures[{arch.entry}].training.steps" if "steps" in own else "training.steps"
        for key, start in registry.get(arch.arch).schedule(arch.params).items():
            if start >= training.steps:
                out.append(
                    f"architectures[{arch.entry}].{key} = {start:,} ≥ {steps_key} = {training.steps:,}: "
                    f"{arch.label()}'s schedule starts after training ends and never acts; "
                    f"set {key} below {training.steps:,} or train longer"
                )
    return tuple(dict.fromkeys(out))
