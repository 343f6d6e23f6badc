"""The extrapolation horizon: how far a model's training range widens before its error leaves a
tolerance (pure numpy; the models' predictions come from a callable).

For a model trained on R the range at scale s is R itself at s = 1 and R.widened(s, policy)
above it (the ladder's policy, tasks.core.ranges). The model is *within tolerance* at s when its
NRMSE there is at most `tolerance`, or (tolerance: success) its MSE is below the study's success
rule's threshold on the same inputs. Its horizon is the largest s up to the cap such that every
scale searched up to s is within tolerance, found for all members of a bundle at once:

  1. brackets   every member at s = 1, at each ladder scale between 1 and the cap, and at the
                cap, until it first fails: one prediction of the whole bundle per scale;
  2. bisection  `rounds` rounds on log s between each member's last scale within and its first
                scale outside: one prediction of the whole bundle (each member at its own
                midpoint) per round.

A member whose error crosses the tolerance between two ladder scales so gets a horizon strictly
between them, to a factor (upper/lower)^(1/2^rounds). The horizon is the last scale found
within (`horizon_scale`, a lower bound; `horizon_upper` is the first found outside); the status
says "capped" (within at the cap: reported "≥ cap") or "none" (outside already on its own
training range). The search assumes the error grows with the widening, as extrapolation errors
do; a model whose error dips back below the tolerance further out keeps its first crossing.

Inputs: one uniform draw u in [0, 1]^(rows × N), fixed by (rows, N), mapped onto each range by the
sampling distribution's inverse CDF (tasks.data.sampling.quantile): every scale sees the same
numbers (e(s) is smooth in s, bisection converges) and no test set is stored. Cost per model:
(brackets reached + rounds) predictions of `rows` inputs; the lab's defaults (ladder 1, 2, 5, 10,
100; 8 rounds; 1000 rows) make at most 13 000 predictions per model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from tasks.core.ids import seed_from
from tasks.core.ranges import Ranges, coverage
from tasks.data.sampling import quantile
from tasks.evaluation.job import EvalJob, HorizonConfig
from tasks.evaluation.success import REGISTRY as RULES

Predict = Callable[[np.ndarray], np.ndarray]  # inputs [K, n, N] → predictions [K, n]
Within = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # scales [K] → (within [K], NRMSE [K])


def unit_draw(rows: int, n_inputs: int) -> np.ndarray:
    """The horizon's uniform numbers [rows, N]: the same for every model, scale and run."""
    return np.random.default_rng(seed_from("horizon-inputs", rows, n_inputs)).random((rows, n_inputs))


def range_at(train: Ranges, scale: float, widen: str) -> Ranges:
    """The range at widening `scale`: the training range itself at 1."""
    return train if scale <= 1 else train.widened(scale, widen)


@dataclass(frozen=True)
class Search:
    """Per member: the last scale within tolerance (NaN: none), the first scale outside (NaN:
    none up to the cap), the NRMSE at the former; and the predictions of the bundle it took."""

    lower: np.ndarray
    upper: np.ndarray
    nrmse: np.ndarray
    predictions: int


def search(within: Within, k: int, config: HorizonConfig) -> Search:
    """Brackets, then bisection on log s, for `k` members judged together by `within`."""
    lower, upper, nrmse = np.full(k, np.nan), np.full(k, np.nan), np.full(k, np.nan)
    searching = np.ones(k, bool)
    calls = 0
    for scale in config.brackets:
        if not searching.any():
            break
        ok, error = within(np.full(k, scale))
        calls += 1
        passed, failed = searching & ok, searching & ~ok
        lower[passed], nrmse[passed], upper[failed] = scale, error[passed], scale
        searching &= ok
    bracketed = ~np.isnan(lower) & ~np.isnan(upper)
    for _ in range(config.rounds if bracketed.any() else 0):
        mid = np.where(bracketed, np.sqrt(lower * upper), np.nan_to_num(lower, nan=1.0))  # others: any valid scale
        ok, error = within(mid)
        calls += 1
        up, down = bracketed & ok, bracketed & ~ok
        lower[up], nrmse[up], upper[down] = mid[up], error[up], mid[down]
    return Search(lower, upper, nrmse, calls)


def judge(job: EvalJob, layouts: np.ndarray, predict: Predict) -> Within:
    """`within(scales)` for the models of `job` (layouts [K, ...]): each on the horizon's inputs
    mapped onto its range at its scale, all predicted at once."""
    models, config = job.models, job.horizon
    u = unit_draw(config.rows, models[0].target.n_inputs)
    rule = RULES[job.success.rule]

    def within(scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ranges = [range_at(m.train_range, s, config.widen) for m, s in zip(models, scales)]
        x = np.stack([quantile(u, job.distribution, r) for r in ranges]).astype(np.float32)  # what a model sees
        pred = np.asarray(predict(x), np.float64)
        ok, nrmse = np.zeros(len(models), bool), np.full(len(models), np.nan)
        for i, m in enumerate(models):
            xi = x[i].astype(np.float64)
            y = m.target.target.y(m.target.params, xi, layouts[i])
            mse = float(np.mean((pred[i] - y) ** 2))
            rms = float(np.sqrt(np.mean(y * y)))
            nrmse[i] = math.sqrt(mse) / rms if rms > 0 else math.nan
            if config.tolerance is None:
                ok[i] = mse < rule.nearly_perfect_mse(m.target, xi, layouts[i], job.success.epsilon)
            else:
                ok[i] = nrmse[i] <= config.tolerance  # NaN (a diverged model) is never within
        return ok, nrmse

    return within


def horizons(job: EvalJob, layouts: np.ndarray, predict: Predict) -> pa.Table:
    """One row per model of `job` (which searches a horizon: job.horizon): its horizon as a
    scale and as the coverage of that range by its training range, the first scale found
    outside, its status and the NRMSE at the horizon."""
    config = job.horizon
    found = search(judge(job, layouts, predict), len(job.models), config)
    rows = []
    for i, m in enumerate(job.models):
        lower = float(found.lower[i])
        has = not math.isnan(lower)
        at = range_at(m.train_range, lower, config.widen) if has else None
        cov = coverage(m.train_range, at, job.distribution, m.target.n_inputs) if at else math.nan
        rows.append(
            {
                "model_id": m.model_id,
                "horizon_scale": lower,
                "horizon_upper": float(found.upper[i]),
                "horizon_coverage": cov,
                "horizon_range": at.label() if at else "",
                "horizon_status": status(lower, float(found.upper[i])),
                "horizon_cap": config.max_scale,
                "horizon_nrmse": float(found.nrmse[i]),
                "horizon_tolerance": config.describe(),
                "horizon_predictions": found.predictions,
            }
        )
    return pa.Table.from_pylist(rows)


def status(lower: float, upper: float) -> str:
    """within (found below the cap), capped (within at the cap) or none (outside on its own range)."""
    if math.isnan(lower):
        return "none"
    return "capped" if math.isnan(upper) else "within"


def describe(scale: float, status: str) -> str:
    """A horizon as tables print it: "≥100" when capped, "none", else the scale (3 digits)."""
    if status == "none" or scale != scale:
        return "none"
    return f"≥{scale:g}" if status == "capped" else f"{scale:.3g}"
