"""What an evaluation is: the models of one bundle, the ranges and diagonal they are measured
on, the success rule, and the content-derived id that names it (pure).

The id hashes the evaluation's inputs (its bundle, each model with its evaluation sets, the
diagonal, the success rule) and EVALUATION_VERSION, the evaluation stage's version. Bump it
with any change to what an evaluation writes for the same trained weights:

    a metric or its definition (tasks.evaluation.metrics), a success rule or its threshold
    (tasks.evaluation.success), coverage (tasks.core.ranges.coverage), the diagonal grid, how
    predictions are computed (tasks.model.inference), the columns of metrics/diagonal.

A bump re-evaluates every model and trains none (their ids do not carry this version); the
tables and the report follow. tests/test_numerics.py fails when an evaluation's output changes
while this version did not. How a config's study becomes these jobs: tasks.study.bundles.
"""

from __future__ import annotations

from dataclasses import dataclass

from tasks.core.ids import content_id
from tasks.core.ranges import Ranges
from tasks.data.targets import TargetSpec
from tasks.evaluation.success import SuccessConfig

# 1, 2: the lab's single numerics version before each stage had its own (2: coverage as mass),
# kept so that evaluations written then are still found.
EVALUATION_VERSION = 2


@dataclass(frozen=True)
class EvalRange:
    kind: str  # "square": a, b ~ D(range) independently
    ranges: Ranges
    dataset_id: str  # its test set
    coverage: float  # of this range by the model's training range


@dataclass(frozen=True)
class DiagonalConfig:
    """The article's line a = b = x: `points` values of x in [lo, hi], split into segments."""

    lo: float
    hi: float
    points: int
    segments: tuple[Ranges, ...]


@dataclass(frozen=True)
class EvalModel:
    """A trained model as its evaluation sees it."""

    model_id: str
    seed: int  # chooses the model's layout of the target (tasks.data.targets)
    train_range: Ranges
    evals: tuple[EvalRange, ...]
    target: TargetSpec  # its operand layout and operation: what y is


@dataclass(frozen=True)
class EvalJob:
    eval_id: str
    bundle_id: str
    models: tuple[EvalModel, ...]
    diagonal: DiagonalConfig | None
    success: SuccessConfig
    distribution: str  # how test inputs are drawn (success rules that sample draw the same way)

    @staticmethod
    def of(
        bundle_id: str,
        models: tuple[EvalModel, ...],
        diagonal: DiagonalConfig | None,
        success: SuccessConfig,
        distribution: str,
    ) -> EvalJob:
        """The evaluation of `models` (all trained in bundle `bundle_id`), named by its inputs."""
        identity = {
            "v": EVALUATION_VERSION,
            "bundle": bundle_id,
            "models": [[m.model_id, [[e.dataset_id, e.ranges.to_json()] for e in m.evals]] for m in models],
            "diagonal": None
            if diagonal is None
            else [diagonal.lo, diagonal.hi, diagonal.points, [s.to_json() for s in diagonal.segments]],
            "success": success.identity(),
        }
        return EvalJob(content_id("ev", identity), bundle_id, models, diagonal, success, distribution)
