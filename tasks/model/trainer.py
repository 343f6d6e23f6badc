"""Vectorized training: K models of one architecture trained as one compiled computation.

Weights of the K members are stacked on a leading axis; one XLA-compiled `while_loop` runs
many steps per call, sampling each member's batch in-graph (tasks.model.batches), computing
the K losses, their gradients and an elementwise optimizer update. Members never interact,
so a member trained in a bundle equals the same model trained alone (tests prove it).

Data arrive in windows (a bounded number of rows per dataset at a time), so memory does
not grow with the dataset. A member whose loss or weights become non-finite is frozen at
its last finite weights and reported as diverged at that step; the others carry on.
Rows are float32 inputs [n, N], followed by y where the dataset stores it (targets that do
not depend on the model: the `inputs` layout, whatever the operation); otherwise the target
(tasks.data.targets) computes y inside the compiled step, with each member's own layout. Stored targets are used
as stored: recomputing a·b in the step lets the compiler fuse it into the loss (an FMA),
which rounds differently. A change to what this computes bumps TRAIN_VERSION (tasks.model.settings).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from tasks.data.targets import PRODUCT, TargetSpec
from tasks.model import optimizers
from tasks.model.architecture import Architecture
from tasks.model.batches import batch_indices_tf, stream_key
from tasks.model.inference import rows_per_call
from tasks.model.settings import TrainingConfig


@dataclass
class TrainOutcome:
    weights: dict[str, np.ndarray]  # selected checkpoint, stacked [K, ...]
    log_steps: np.ndarray  # [L] global step after which each curve point was logged
    train_mse: np.ndarray  # [L, K] mean batch MSE over the steps since the previous point
    val_mse: np.ndarray  # [L, K] interpolation validation MSE at that step (nan: no val set)
    diverged_step: np.ndarray  # [K] first step with a non-finite loss, -1 if never
    selected_step: np.ndarray  # [K] step of the returned weights
    seconds: float = 0.0
    compile_seconds: float = 0.0  # the first compiled call (compilation plus its steps)
    steady_steps_per_s: float = 0.0  # steps/s after the first call: the trainer's throughput
    probe_mse: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))  # [L, K, E]


@dataclass
class BundleData:
    """What a bundle trains on. `load_window(w)` returns float32 rows [D, window_rows[w], N]
    (or N + 1: a stored y last) for the D training datasets; member k trains on dataset
    `dataset_index[k]`. `val` is [D, n, ·] or None. `probes` [P, m, ·] are evaluation sets
    watched at every log step;
    member k watches sets `probe_index[k]` ([K, E], −1 for none): their MSE curves give
    "solved at" steps. `target` computes y; `layouts` [K, ...] are the members' own task
    parameters (None: the target has none)."""

    dataset_index: Sequence[int]
    window_rows: Sequence[int]
    load_window: Callable[[int], np.ndarray]
    val: np.ndarray | None = None
    probes: np.ndarray | None = None
    probe_index: np.ndarray | None = None
    first_window: int = 0  # the members' window order starts here (tasks.study.plan.window_offset)
    target: TargetSpec = PRODUCT
    layouts: np.ndarray | None = None


def init_weights(arch: Architecture, params: dict, seeds: Sequence[int], n_inputs: int) -> dict[str, np.ndarray]:
    """Each member initialised from its own seed only, then stacked."""
    per_model = [arch.init(params, np.random.default_rng([int(s), 0x1A17]), n_inputs) for s in seeds]
    return {name: np.stack([w[name] for w in per_model]) for name in sorted(per_model[0])}


def window_schedule(window_rows: Sequence[int], batch: int, steps: int, first: int = 0) -> list[tuple[int, int]]:
    """(window, steps) pairs covering `steps`: one window takes them all; several windows
    are visited in turn from `first`, each for about one pass over its rows, cycling as needed."""
    if len(window_rows) == 1:
        return [(0, steps)]
    order = [(first + i) % len(window_rows) for i in range(len(window_rows))]
    schedule, done = [], 0
    while done < steps:
        for w in order:
            n = min(max(1, -(-window_rows[w] // batch)), steps - done)
            schedule.append((w, n))
            done += n
            if done >= steps:
                break
    return schedule


@dataclass(frozen=True)
class StepConfig:
    """What the compiled step depends on (not steps, logging or checkpointing: those vary
    freely without recompiling)."""

    optimizer: str
    learning_rate: float
    batch_size: int
    loss_reduction: str
    epsilon: float

    @staticmethod
    def of(training: TrainingConfig) -> StepConfig:
        t = training
        return StepConfig(t.optimizer, t.learning_rate, t.batch_size, t.loss_reduction, t.epsilon)


class _Compiled:
    """The compiled chunk and validation functions for one architecture, step config and
    target; cached per process, so a reused Ray worker compiles each shape once."""

    def __init__(self, arch: Architecture, params: dict, training: StepConfig, names: tuple[str, ...], target):
        self.arch, self.params, self.training, self.names, self.target = arch, params, training, names, target
        self.chunk = tf.function(self._chunk, jit_compile=True)
        self.sse = tf.function(self._sse, jit_compile=True)

    def _split(self, rows, layouts):
        """(x, y) of rows [..., N] or [..., N + 1] (a stored y last)."""
        n = self.target.n_inputs
        if rows.shape[-1] == n + 1:
            return rows[..., :n], rows[..., n]
        return rows, self.target.target.y_tf(self.target.params, rows, layouts)

    def _losses(self, weights, x, y, step):
        w = dict(zip(self.names, weights))
        pred = self.arch.forward(self.params, w, x)
        mse = tf.reduce_mean(tf.square(pred - y), axis=1)
        scale = tf.cast(tf.shape(y)[1], tf.float32) if self.training.loss_reduction == "sum" else 1.0
        return mse, mse * scale + self.arch.regularizer(self.params, w, step)

    def _chunk(self, weights, state, alive, diverged, data, n_rows, offsets, keys, layouts, step0, n_steps):
        t = self.training

        def body(i, weights, state, alive, diverged, mse_sum):
            step = step0 + tf.cast(i, tf.int64)
            idx = batch_indices_tf(keys, step, t.batch_size, n_rows) + offsets[:, None]
            x, y = self._split(tf.gather(data, idx), layouts)  # [K, B, N], [K, B]
            with tf.GradientTape() as tape:
                tape.watch(weights)
                mse, loss = self._losses(weights, x, y, tf.cast(step, tf.float32))
                total = tf.reduce_sum(tf.where(alive, loss, 0.0))
            grads = tape.gradient(total, weights)
            new_w, new_s = optimizers.apply(t.optimizer, t.learning_rate, weights, grads, state, step, t.epsilon)
            projected = self.arch.project(self.params, dict(zip(self.names, new_w)))
            new_w = tuple(projected[n] for n in self.names)
            ok = alive & tf.math.is_finite(loss)
            for nw in new_w:
                ok &= tf.reduce_all(tf.math.is_finite(tf.reshape(nw, [tf.shape(nw)[0], -1])), axis=1)

            def keep(new, old):
                mask = tf.reshape(ok, [-1] + [1] * (len(new.shape) - 1))
                return tf.where(mask, new, old)

            weights = tuple(keep(n, o) for n, o in zip(new_w, weights))
            state = tuple(keep(n, o) for n, o in zip(new_s, state))
            diverged = tf.where(alive & ~ok, step, diverged)
            mse_sum += tf.where(ok, mse, 0.0)
            return i + 1, weights, state, ok, diverged, mse_sum

        k = tf.shape(keys)[0]
        _, weights, state, alive, diverged, mse_sum = tf.while_loop(
            lambda i, *_: i < n_steps,
            body,
            (tf.constant(0), weights, state, alive, diverged, tf.zeros([k], tf.float32)),
        )
        return weights, state, alive, diverged, mse_sum

    def _sse(self, weights, rows, layouts):
        x, y = self._split(rows, layouts)
        pred = self.arch.forward(self.params, dict(zip(self.names, weights)), x)
        return tf.reduce_sum(tf.square(pred - y), axis=1)

    def mse(self, weights, rows: np.ndarray, layouts: tf.Tensor) -> np.ndarray:
        """Per-member MSE on rows [K, n, N (+ 1)], in row blocks so memory stays bounded."""
        k, n = rows.shape[:2]
        block = rows_per_call(k, self.arch.width(self.params))
        total = np.zeros(k)
        for i in range(0, n, block):
            total += self.sse(weights, tf.constant(rows[:, i : i + block]), layouts).numpy()
        return total / max(n, 1)


_CACHE: dict[tuple, _Compiled] = {}


def _compiled(arch: Architecture, params: dict, training: StepConfig, names: tuple[str, ...], target: TargetSpec):
    key = (arch.name, repr(sorted(params.items())), training, names, target)
    if key not in _CACHE:
        _CACHE[key] = _Compiled(arch, params, training, names, target)
    return _CACHE[key]


class _Log:
    """Curve points, validation MSE, probe curves and the best-validation checkpoint."""

    def __init__(self, k: int, weights: dict[str, np.ndarray], checkpoint: str):
        self.k, self.checkpoint = k, checkpoint
        self.steps: list[int] = []
        self.train: list[np.ndarray] = []
        self.val: list[np.ndarray] = []
        self.probes: list[np.ndarray] = []
        self.best = {n: w.copy() for n, w in weights.items()}
        self.best_val = np.full(k, np.inf)
        self.selected = np.zeros(k, np.int64)

    def point(self, step: int, train_mse: np.ndarray, alive: np.ndarray, val: np.ndarray | None) -> None:
        self.steps.append(step)
        self.train.append(np.where(alive, train_mse, np.nan))  # dead members: no curve
        self.val.append(np.full(self.k, np.nan) if val is None else np.where(alive, val, np.nan))

    def keep_best(self, step: int, names: tuple[str, ...], weights) -> None:
        v = self.val[-1]
        better = np.isfinite(v) & (v < self.best_val)
        if not better.any():
            return
        self.best_val = np.where(better, v, self.best_val)
        self.selected = np.where(better, step, self.selected)
        for n, w in zip(names, weights):
            self.best[n][better] = w.numpy()[better]

    def selection(self, final: dict[str, np.ndarray], step: int, has_val: bool) -> tuple[dict, np.ndarray]:
        """The weights to keep and the step each member's come from."""
        if self.checkpoint == "best_val" and has_val:
            found = np.isfinite(self.best_val)
            weights = {n: np.where(_bcast(found, self.best[n]), self.best[n], final[n]) for n in final}
            return weights, np.where(found, self.selected, step)
        return final, np.full(self.k, step, np.int64)


def _watched(data: BundleData, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per watched column e: the inputs [K, m, N] each member watches, and which have one."""
    if data.probes is None or data.probe_index is None or not data.probe_index.size:
        return []
    sets = []
    for e in range(data.probe_index.shape[1]):
        has = data.probe_index[:, e] >= 0
        sets.append((data.probes[np.where(has, data.probe_index[:, e], 0)], has))
    return sets


def train_bundle(
    arch: Architecture,
    params: dict,
    training: TrainingConfig,
    seeds: Sequence[int],
    data: BundleData,
    initial_weights: dict[str, np.ndarray] | None = None,
) -> TrainOutcome:
    """Train len(seeds) models together on `data`; see BundleData for the layout."""
    k = len(seeds)
    start = time.perf_counter()
    schedule = window_schedule(data.window_rows, training.batch_size, training.steps, data.first_window)
    loaded = _load(data, schedule[0][0])
    n_inputs = data.target.n_inputs
    weights_np = initial_weights if initial_weights is not None else init_weights(arch, params, seeds, n_inputs)
    names = tuple(sorted(weights_np))
    comp = _compiled(arch, params, StepConfig.of(training), names, data.target)
    layouts = data.layouts if data.layouts is not None else data.target.layouts(seeds)
    layouts = tf.constant(np.asarray(layouts, np.float32))
    weights = tuple(tf.constant(weights_np[n]) for n in names)
    state = optimizers.init_state(training.optimizer, weights)
    alive = tf.ones([k], tf.bool)
    diverged = tf.fill([k], tf.constant(-1, tf.int64))
    keys = tf.constant([stream_key(s) for s in seeds], tf.int64)
    ds_index = np.asarray(data.dataset_index, np.int64)
    val_rows = data.val[ds_index] if data.val is not None else None  # [K, n, N]
    watched = _watched(data, k)
    log = _Log(k, weights_np, training.checkpoint)

    first_chunk: tuple[float, int] | None = None  # (seconds, steps) of the first compiled call
    step = 0
    mse_acc, mse_count = np.zeros(k), 0
    for window, n_window_steps in schedule:
        if loaded[0] != window:
            loaded = _load(data, window)
        _, flat, n_rows = loaded
        offsets = tf.constant(ds_index * n_rows, tf.int64)
        window_end = step + n_window_steps
        while step < window_end:
            next_log = min((step // training.log_every + 1) * training.log_every, training.steps)
            n = min(next_log, window_end) - step
            t0 = time.perf_counter()
            weights, state, alive, diverged, mse_sum = comp.chunk(
                weights,
                state,
                alive,
                diverged,
                flat,
                tf.constant(n_rows, tf.int64),
                offsets,
                keys,
                layouts,
                tf.constant(step, tf.int64),
                tf.constant(n, tf.int32),
            )
            mse_acc += mse_sum.numpy()
            if not first_chunk:  # the first call compiles (or not, in a warm worker): timed apart
                first_chunk = (time.perf_counter() - t0, n)
            step += n
            mse_count += n
            if step == next_log:
                alive_np = alive.numpy()
                val = comp.mse(weights, val_rows, layouts) if val_rows is not None else None
                log.point(step, mse_acc / mse_count, alive_np, val)
                mse_acc, mse_count = np.zeros(k), 0
                if val is not None and training.checkpoint == "best_val":
                    log.keep_best(step, names, weights)
                if watched:
                    log.probes.append(
                        np.stack(
                            [np.where(has, comp.mse(weights, rows, layouts), np.nan) for rows, has in watched], axis=1
                        )
                    )

    final = {n: w.numpy() for n, w in zip(names, weights)}
    out_weights, selected = log.selection(final, step, val_rows is not None)
    seconds = time.perf_counter() - start
    return TrainOutcome(
        weights=out_weights,
        log_steps=np.asarray(log.steps, np.int64),
        train_mse=np.asarray(log.train, np.float64).reshape(-1, k),
        val_mse=np.asarray(log.val, np.float64).reshape(-1, k),
        diverged_step=diverged.numpy(),
        selected_step=selected,
        seconds=seconds,
        compile_seconds=first_chunk[0] if first_chunk else 0.0,
        steady_steps_per_s=_steady_rate(seconds, training.steps, first_chunk),
        probe_mse=np.asarray(log.probes, np.float64).reshape(len(log.steps), k, len(watched)),
    )


def _load(data: BundleData, window: int) -> tuple[int, tf.Tensor, int]:
    """(window, its rows flattened to [D · n, N] on the device, rows per dataset)."""
    rows = data.load_window(window)
    return window, tf.constant(rows.reshape(-1, rows.shape[-1])), rows.shape[1]


def _steady_rate(seconds: float, steps: int, first: tuple[float, int] | None) -> float:
    """Steps per second excluding the first call (its compilation and its steps alike)."""
    if first is None or steps <= first[1]:
        return steps / max(seconds, 1e-9)
    return (steps - first[1]) / max(seconds - first[0], 1e-9)


def _bcast(mask: np.ndarray, like: np.ndarray) -> np.ndarray:
    return mask.reshape((-1,) + (1,) * (like.ndim - 1))
