"""From a config to the work: datasets, models, bundles and evaluation jobs (pure).

Every item carries a content-derived id, so a rerun finds what is already complete and a
different machine or bundle size never changes a model's identity or its results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tasks import architectures
from tasks.config import ArchSpec, Config
from tasks.datasets import DatasetSpec
from tasks.ids import content_id
from tasks.ranges import Ranges, coverage

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
        arch = architectures.get(self.arch.arch)
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
class Bundle:
    bundle_id: str
    arch: ArchSpec
    models: tuple[ModelSpec, ...]

    @property
    def datasets(self) -> tuple[str, ...]:
        """Distinct training datasets, in first-use order; members index into this."""
        return tuple(dict.fromkeys(m.train_dataset for m in self.models))

    @property
    def val_datasets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.val_dataset for m in self.models))


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
        eval_ranges = (
            [tr.range.scaled(s) for s in config.evaluation.scales] + list(tr.eval) + list(config.evaluation.ranges)
        )
        evals = tuple(
            EvalRange("square", r, dataset("test", r, config.evaluation.size), coverage(tr.range, r))
            for r in dict.fromkeys(eval_ranges)
        )
        for arch in config.architectures:
            for seed in config.seeds:
                identity = {
                    "v": PLAN_VERSION,
                    "arch": arch.arch,
                    "params": arch.params,
                    "training": config.training.identity(),
                    "train_dataset": train_ds,
                    "val_dataset": val_ds,
                    "seed": seed,
                }
                models.append(ModelSpec(content_id("m", identity), arch, seed, tr.range, train_ds, val_ds, evals))
    return Plan(config, datasets, tuple(models))


GPU_ACTIVATION_BUDGET = 1 << 26  # float32 activations per step: 256 MB, fits a quarter of a 16 GB GPU
MAX_BUNDLE = {"cpu": 128, "gpu": 4096}


def auto_bundle_size(
    width: int, batch: int, n_models: int, slots: int, on_gpu: bool = False, l2_bytes: int | None = None
) -> int:
    """Members per bundle: enough to amortise per-step overhead; on a CPU few enough that
    one step's activations (K × batch × width floats) stay within about twice the core's
    L2 cache (measured best: K ≈ 32–64 for the article's model on a 1 MiB L2), on a GPU
    enough to fill it; and never so many that fewer bundles than slots leave some idle."""
    if on_gpu:
        budget, cap_max = GPU_ACTIVATION_BUDGET, MAX_BUNDLE["gpu"]
    else:
        from tasks.hardware import l2_cache_bytes

        budget, cap_max = 2 * (l2_bytes or l2_cache_bytes()) // 4, MAX_BUNDLE["cpu"]
    cap = max(1, min(cap_max, budget // max(1, width * batch)))
    balanced = -(-n_models // max(1, slots))
    return max(1, min(cap, balanced))


def make_bundles(
    plan: Plan, todo: list[ModelSpec], bundle_size: int | None, slots: int, on_gpu: bool = False
) -> list[Bundle]:
    """Group models that share architecture (and so shapes) into bundles of near-equal size."""
    groups: dict[ArchSpec, list[ModelSpec]] = {}
    for m in todo:
        groups.setdefault(m.arch, []).append(m)
    bundles = []
    for arch, members in groups.items():
        size = bundle_size or auto_bundle_size(
            architectures.get(arch.arch).width(arch.params),
            plan.config.training.batch_size,
            len(members),
            slots,
            on_gpu,
        )
        n_bundles = -(-len(members) // size)
        if bundle_size is None:  # whole rounds: 3 bundles on 2 slots would idle one slot half the time
            n_bundles = min(len(members), -(-n_bundles // slots) * slots)
        for i in range(n_bundles):
            # contiguous, near-equal chunks: members sharing a training range stay together,
            # so a bundle holds few datasets in memory
            lo, hi = i * len(members) // n_bundles, (i + 1) * len(members) // n_bundles
            chunk = tuple(members[lo:hi])
            bundles.append(Bundle(content_id("b", [m.model_id for m in chunk]), arch, chunk))
    return bundles
