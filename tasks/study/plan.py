"""From a config to the work: the datasets and the models of a study (pure).

Every item carries a content-derived id, so a rerun finds what is already complete and a
different machine or bundle size never changes a model's identity or its results. How
models are grouped into training tasks is tasks.study.bundles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tasks.core.ids import content_id
from tasks.core.ranges import Ranges, coverage
from tasks.data.spec import DatasetSpec
from tasks.model import registry
from tasks.study.config import ArchSpec, Config, evaluation_ranges

PLAN_VERSION = 1  # bump when a change alters what an id stands for


@dataclass(frozen=True)
class EvalRange:
    kind: str  # "square": a, b ~ D(range) independently
    ranges: Ranges
    dataset_id: str
    coverage: float


@dataclass(frozen=True)
class ModelSpec:
    model_id: str
    arch: ArchSpec
    seed: int
    train_range: Ranges
    train_dataset: str
    val_dataset: str
    evals: tuple[EvalRange, ...]

    def row(self) -> dict[str, Any]:
        """The model's identifying columns for result tables."""
        arch = registry.get(self.arch.arch)
        return {
            "model_id": self.model_id,
            "arch": self.arch.arch,
            "arch_label": arch.label(self.arch.params),
            "seed": self.seed,
            "train_range": self.train_range.label(),
            "train_lo": self.train_range.lo,
            "train_hi": self.train_range.hi,
            **{f"param_{k}": v for k, v in arch.columns(self.arch.params).items()},
        }


@dataclass(frozen=True)
class Plan:
    config: Config
    datasets: dict[str, DatasetSpec]
    models: tuple[ModelSpec, ...]

    @property
    def n_model_steps(self) -> int:
        return len(self.models) * self.config.training.steps


def make_plan(config: Config) -> Plan:
    datasets: dict[str, DatasetSpec] = {}

    def dataset(role: str, ranges: Ranges, rows: int) -> str:
        d = config.data
        spec = DatasetSpec(role, ranges, d.distribution, rows, min(d.shard_rows, rows), d.seed, config.target)
        datasets.setdefault(spec.dataset_id, spec)
        return spec.dataset_id

    models = []
    for tr in config.train_ranges:
        train_ds = dataset("train", tr.range, config.data.train_size)
        val_ds = dataset("val", tr.range, config.data.val_size)
        evals = tuple(
            EvalRange("square", r, dataset("test", r, config.evaluation.size), coverage(tr.range, r))
            for r in evaluation_ranges(config, tr)
        )
        for arch in config.architectures:
            code = registry.code_identity(arch.arch)
            for seed in config.seeds:
                identity = {
                    "v": PLAN_VERSION,
                    "arch": arch.arch,
                    "params": arch.params,
                    "training": config.training.identity(),
                    "train_dataset": train_ds,
                    "val_dataset": val_ds,
                    "seed": seed,
                    **({"code": code} if code else {}),  # a plugin's source: edits never reuse old models
                }
                models.append(ModelSpec(content_id("m", identity), arch, seed, tr.range, train_ds, val_ds, evals))
    return Plan(config, datasets, tuple(models))
