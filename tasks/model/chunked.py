"""A bundle larger than one compiled step: its members trained `step_size` at a time.

A training task may carry many more models than the compiled step runs at its best size (a
short-training study gets large bundles, so that a task's fixed costs stay small against its
work; tasks.study.bundles). The members are then trained in consecutive steps of exactly
`step_size` members, the last one padded with copies of its last member (their results are
dropped), so every step of an architecture has one shape and compiles once per worker. A
step's members read only the datasets they train on (two, one of them twice where they all
train on one: members are ordered by training range), so the data's shape does not grow with
the bundle either. Members never
interact, so the outcome is each member's own, whatever the step size.

With checkpoints (tasks.model.loop_state.Checkpoints), a bundle of several steps saves the
outcomes of the steps it has finished together with the state of the step in progress, so
a resumed run skips the finished steps and resumes the current one where it was saved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from tasks.model.architecture import Architecture
from tasks.model.fresh import RangeTable
from tasks.model.loop_state import Checkpoints
from tasks.model.settings import TrainingConfig
from tasks.model.trainer import BundleData, TrainOutcome, train_bundle


def step_slices(n_members: int, step_size: int | None) -> list[np.ndarray]:
    """Member indices of each compiled step: `step_size` each, the last padded with its last
    member; one step of every member when they fit (or no size is given)."""
    if not step_size or n_members <= step_size:
        return [np.arange(n_members)]
    out = []
    for lo in range(0, n_members, step_size):
        idx = np.arange(lo, min(lo + step_size, n_members))
        out.append(np.concatenate([idx, np.full(step_size - len(idx), idx[-1])]))
    return out


def train_in_steps(
    arch: Architecture,
    params: dict,
    training: TrainingConfig,
    seeds: Sequence[int],
    data: BundleData,
    step_size: int | None = None,
    checkpoints: Checkpoints | None = None,
) -> TrainOutcome:
    """Train every member of `data` in compiled steps of `step_size` members; the outcome is
    stacked over all members as if they had been one step (`seconds` add up, `compile_seconds`
    counts each step's first call beyond its steady pace, the rate is of real members only).
    `checkpoints`: the bundle's, saved and resumed from as the module docstring says."""
    slices = step_slices(len(seeds), step_size)
    if len(slices) == 1 and len(slices[0]) == len(seeds):
        return train_bundle(arch, params, training, seeds, data, checkpoints=checkpoints)
    window = _Memo(data.load_window)
    saved = checkpoints.restore() if checkpoints is not None else None
    outs = _finished_steps(saved) if saved is not None else []
    real = [len(np.unique(idx)) for idx in slices]
    for i in range(len(outs), len(slices)):
        idx = slices[i]
        keeper = None if checkpoints is None else _StepCheckpoints(checkpoints, outs, saved)
        saved = None  # only the step in progress when it was saved resumes from it
        members = [seeds[j] for j in idx]
        outs.append(train_bundle(arch, params, training, members, _subset(data, idx, window), checkpoints=keeper))
    return _stacked(outs, real, training.steps)


DONE = "done"  # prefix of a finished step's outcome in a saved state: done<step>__<field>
OUTCOME_ARRAYS = ("log_steps", "train_mse", "val_mse", "diverged_step", "selected_step", "probe_mse")
OUTCOME_NUMBERS = ("seconds", "compile_seconds", "steady_steps_per_s", "resumed_at", "prepare_seconds")


class _StepCheckpoints:
    """One compiled step's view of the bundle's checkpoints: what it saves carries the
    outcomes of the steps finished before it; it resumes from `saved` (the bundle's saved
    state when this step was in progress, else nothing)."""

    def __init__(self, bundle: Checkpoints, finished: list[TrainOutcome], saved: dict[str, np.ndarray] | None):
        self.bundle, self.finished, self.saved = bundle, list(finished), saved

    def restore(self) -> dict[str, np.ndarray] | None:
        if self.saved is None:
            return None
        return {k: v for k, v in self.saved.items() if not k.startswith(DONE)}

    def due(self) -> bool:
        return self.bundle.due()

    def save(self, arrays: dict[str, np.ndarray]) -> None:
        done = {}
        for i, out in enumerate(self.finished):
            done.update({f"{DONE}{i}__w__{name}": w for name, w in out.weights.items()})
            done.update({f"{DONE}{i}__{name}": np.asarray(getattr(out, name)) for name in OUTCOME_ARRAYS})
            done.update({f"{DONE}{i}__{name}": np.asarray(getattr(out, name)) for name in OUTCOME_NUMBERS})
        self.bundle.save({**arrays, **done})


def _finished_steps(saved: dict[str, np.ndarray]) -> list[TrainOutcome]:
    """The outcomes of the steps a saved state had finished, in order."""
    outs = []
    while any(k.startswith(f"{DONE}{len(outs)}__") for k in saved):
        prefix = f"{DONE}{len(outs)}__"
        weights = {k[len(prefix) + 3 :]: v for k, v in saved.items() if k.startswith(prefix + "w__")}
        arrays = {name: saved[prefix + name] for name in OUTCOME_ARRAYS}
        numbers = {name: saved[prefix + name].item() for name in OUTCOME_NUMBERS if prefix + name in saved}
        outs.append(TrainOutcome(weights=weights, **arrays, **numbers))
    return outs


class _Memo:
    """The last training window read: consecutive steps train on the same window."""

    def __init__(self, load):
        self.load, self.key, self.rows = load, None, None

    def __call__(self, w: int) -> np.ndarray:
        if self.key != w:
            self.key, self.rows = w, self.load(w)
        return self.rows


PAIR_BYTES = 64 << 20  # windows up to this size are paired (below), larger ones passed as they are


def _subset(data: BundleData, idx: np.ndarray, window: _Memo) -> BundleData:
    """What the members `idx` train on: only their datasets, their layouts and probe columns.
    A step's members (contiguous, ordered by training range) read one dataset or two: steps
    of one are given it twice, so that both kinds have one data shape and the step compiles
    once (where a window is small enough that the copy costs nothing)."""
    ds_index = np.asarray(data.dataset_index, np.int64)[idx]
    used, local = np.unique(ds_index, return_inverse=True)
    first = window(0) if len(data.window_rows) == 1 else None
    if len(used) == 1 and first is not None and first[:1].nbytes <= PAIR_BYTES:
        used = np.repeat(used, 2)

    def load_window(w: int) -> np.ndarray:
        return window(w)[used]

    return replace(
        data,
        dataset_index=local.tolist(),
        load_window=load_window,
        val=None if data.val is None else data.val[used],
        probe_index=None if data.probe_index is None else data.probe_index[idx],
        layouts=None if data.layouts is None else np.asarray(data.layouts)[idx],
        fresh=None if data.fresh is None else _fresh_rows(data.fresh, idx),
    )


def _fresh_rows(table: RangeTable, idx: np.ndarray) -> RangeTable:
    """The fresh draws' table of the members `idx` (its piece count, so its shape, kept)."""
    return RangeTable(table.start[idx], table.width[idx], table.cum[idx], table.log)


def _stacked(outs: list[TrainOutcome], real: list[int], steps: int) -> TrainOutcome:
    """One outcome over every step's real members (padding dropped)."""

    def cat(name: str, axis: int) -> np.ndarray:
        return np.concatenate([np.take(getattr(o, name), np.arange(n), axis=axis) for o, n in zip(outs, real)], axis)

    weights = {name: np.concatenate([o.weights[name][:n] for o, n in zip(outs, real)]) for name in outs[0].weights}
    seconds = sum(o.seconds for o in outs)
    compile_excess = sum(
        max(0.0, o.compile_seconds - _first_steps(o, steps) / max(o.steady_steps_per_s, 1e-9)) for o in outs
    )
    model_steps = sum(real) * steps
    rate = model_steps / max(seconds - compile_excess, 1e-9) / sum(real)  # steps/s of each member
    return TrainOutcome(
        weights=weights,
        log_steps=outs[0].log_steps,
        train_mse=cat("train_mse", 1),
        val_mse=cat("val_mse", 1),
        diverged_step=cat("diverged_step", 0),
        selected_step=cat("selected_step", 0),
        seconds=seconds,
        compile_seconds=compile_excess,
        steady_steps_per_s=rate,
        prepare_seconds=sum(o.prepare_seconds for o in outs),
        probe_mse=cat("probe_mse", 1),
        resumed_at=max(o.resumed_at for o in outs),
    )


def _first_steps(out: TrainOutcome, steps: int) -> int:
    """Steps of a training's first compiled call: up to its first log point."""
    return int(out.log_steps[0]) if len(out.log_steps) else steps
