"""Vectorized training: K models of one architecture trained as one compiled computation.

Weights of the K members are stacked on a leading axis; one XLA-compiled `while_loop` runs
many steps per call, sampling each member's batch in-graph (tasks.batches), computing the
K losses, their gradients and an elementwise optimizer update. Members never interact, so a
member trained in a bundle equals the same model trained alone (tests prove it).

Data arrive in windows (a bounded number of rows per dataset at a time), so memory does
not grow with the dataset. A member whose loss or weights become non-finite is frozen at
its last finite weights and reported as diverged at that step; the others carry on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from tasks import optimizers
from tasks.architectures import Architecture
from tasks.batches import batch_indices_tf, stream_key
from tasks.config import TrainingConfig


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


def init_weights(arch: Architecture, params: dict, seeds: Sequence[int]) -> dict[str, np.ndarray]:
    """Each member initialised from its own seed only, then stacked."""
    per_model = [arch.init(params, np.random.default_rng([int(s), 0x1A17])) for s in seeds]
    return {name: np.stack([w[name] for w in per_model]) for name in sorted(per_model[0])}


def window_schedule(window_rows: Sequence[int], batch: int, steps: int) -> list[tuple[int, int]]:
    """(window, steps) pairs covering `steps`: one window takes them all; several windows
    are visited in order, each for about one pass over its rows, cycling as needed."""
    if len(window_rows) == 1:
        return [(0, steps)]
    schedule, done = [], 0
    while done < steps:
        for w, rows in enumerate(window_rows):
            n = min(max(1, -(-rows // batch)), steps - done)
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

    @staticmethod
    def of(training: TrainingConfig) -> StepConfig:
        return StepConfig(training.optimizer, training.learning_rate, training.batch_size, training.loss_reduction)


class _Compiled:
    """The compiled chunk and validation functions for one architecture and step config;
    cached per process, so a reused Ray worker compiles each shape once."""

    def __init__(self, arch: Architecture, params: dict, training: StepConfig, names: tuple[str, ...]):
        self.arch, self.params, self.training, self.names = arch, params, training, names
        self.chunk = tf.function(self._chunk, jit_compile=True)
        self.sse = tf.function(self._sse, jit_compile=True)

    def _losses(self, weights, a, b, y, step):
        w = dict(zip(self.names, weights))
        pred = self.arch.forward(self.params, w, a, b)
        mse = tf.reduce_mean(tf.square(pred - y), axis=1)
        scale = tf.cast(tf.shape(y)[1], tf.float32) if self.training.loss_reduction == "sum" else 1.0
        return mse, mse * scale + self.arch.regularizer(self.params, w, step)

    def _chunk(self, weights, state, alive, diverged, data, n_rows, offsets, keys, step0, n_steps):
        t = self.training

        def body(i, weights, state, alive, diverged, mse_sum):
            step = step0 + tf.cast(i, tf.int64)
            idx = batch_indices_tf(keys, step, t.batch_size, n_rows) + offsets[:, None]
            batch = tf.gather(data, idx)  # [K, B, 3]
            with tf.GradientTape() as tape:
                tape.watch(weights)
                mse, loss = self._losses(
                    weights, batch[..., 0], batch[..., 1], batch[..., 2], tf.cast(step, tf.float32)
                )
                total = tf.reduce_sum(tf.where(alive, loss, 0.0))
            grads = tape.gradient(total, weights)
            new_w, new_s = optimizers.apply(t.optimizer, t.learning_rate, weights, grads, state, step)
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

    def _sse(self, weights, a, b, y):
        pred = self.arch.forward(self.params, dict(zip(self.names, weights)), a, b)
        return tf.reduce_sum(tf.square(pred - y), axis=1)

    def mse(self, weights, a: np.ndarray, b: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-member MSE on inputs [K, n], in row blocks so memory stays bounded."""
        k, n = a.shape
        rows = _rows_per_call(k, self.arch.width(self.params))
        total = np.zeros(k)
        for i in range(0, n, rows):
            s = slice(i, i + rows)
            total += self.sse(weights, tf.constant(a[:, s]), tf.constant(b[:, s]), tf.constant(y[:, s])).numpy()
        return total / max(n, 1)


def _rows_per_call(k: int, width: int, max_elems: int = 1 << 22) -> int:
    return max(256, max_elems // max(1, k * width))


_CACHE: dict[tuple, _Compiled] = {}


def _compiled(arch: Architecture, params: dict, training: StepConfig, names: tuple[str, ...]) -> _Compiled:
    key = (arch.name, repr(sorted(params.items())), training, names)
    if key not in _CACHE:
        _CACHE[key] = _Compiled(arch, params, training, names)
    return _CACHE[key]


def train_bundle(
    arch: Architecture,
    params: dict,
    training: TrainingConfig,
    seeds: Sequence[int],
    dataset_index: Sequence[int],
    window_rows: Sequence[int],
    load_window: Callable[[int], np.ndarray],
    val: np.ndarray | None = None,
    initial_weights: dict[str, np.ndarray] | None = None,
    probes: np.ndarray | None = None,
    probe_index: np.ndarray | None = None,
) -> TrainOutcome:
    """Train len(seeds) models together.

    `load_window(w)` returns float32 [D, window_rows[w], 3] (a, b, y) for the D datasets;
    member k trains on dataset `dataset_index[k]`. `val` is float32 [D, n, 3] or None.
    `probes` [P, m, 3] are evaluation sets watched at every log step; member k watches
    sets `probe_index[k]` ([K, E], −1 for none): their MSE curves give "solved at" steps.
    """
    k = len(seeds)
    weights_np = initial_weights if initial_weights is not None else init_weights(arch, params, seeds)
    names = tuple(sorted(weights_np))
    comp = _compiled(arch, params, StepConfig.of(training), names)
    weights = tuple(tf.constant(weights_np[n]) for n in names)
    state = optimizers.init_state(training.optimizer, weights)
    alive = tf.ones([k], tf.bool)
    diverged = tf.fill([k], tf.constant(-1, tf.int64))
    keys = tf.constant([stream_key(s) for s in seeds], tf.int64)
    ds_index = np.asarray(dataset_index, np.int64)

    val_inputs = None
    if val is not None:
        vv = val[ds_index]  # [K, n, 3]
        val_inputs = (vv[..., 0], vv[..., 1], vv[..., 2])
    probe_sets = []  # per watched column e: (a, b, y) [K, m] and which members have one
    if probes is not None and probe_index is not None and probe_index.size:
        for e in range(probe_index.shape[1]):
            has = probe_index[:, e] >= 0
            pe = probes[np.where(has, probe_index[:, e], 0)]
            probe_sets.append(((pe[..., 0], pe[..., 1], pe[..., 2]), has))
    probe_curve = []

    best = {n: w.copy() for n, w in weights_np.items()}
    best_val = np.full(k, np.inf)
    selected = np.zeros(k, np.int64)
    log_steps, train_curve, val_curve = [], [], []

    start = time.perf_counter()
    first_chunk: tuple[float, int] | None = None  # (seconds, steps) of the first compiled call
    step = 0
    mse_acc, mse_count = np.zeros(k), 0
    loaded: tuple[int, tf.Tensor, int] | None = None
    for window, n_window_steps in window_schedule(window_rows, training.batch_size, training.steps):
        if loaded is None or loaded[0] != window:
            data = load_window(window)
            flat = tf.constant(data.reshape(-1, 3))
            loaded = (window, flat, data.shape[1])
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
                tf.constant(step, tf.int64),
                tf.constant(n, tf.int32),
            )
            mse_acc += mse_sum.numpy()
            if not first_chunk:  # the first call compiles (or not, in a warm worker): timed apart
                first_chunk = (time.perf_counter() - t0, n)
            step += n
            mse_count += n
            if step == next_log:
                log_steps.append(step)
                train_curve.append(np.where(alive.numpy(), mse_acc / mse_count, np.nan))  # dead members: no curve
                mse_acc, mse_count = np.zeros(k), 0
                if val_inputs is not None:
                    v = comp.mse(weights, *val_inputs)
                    v = np.where(alive.numpy(), v, np.nan)
                    val_curve.append(v)
                    if training.checkpoint == "best_val":
                        better = np.isfinite(v) & (v < best_val)
                        best_val = np.where(better, v, best_val)
                        selected = np.where(better, step, selected)
                        for n_, w in zip(names, weights):
                            w = w.numpy()
                            best[n_][better] = w[better]
                else:
                    val_curve.append(np.full(k, np.nan))
                if probe_sets:
                    probe_curve.append(
                        np.stack([np.where(has, comp.mse(weights, *abc), np.nan) for abc, has in probe_sets], axis=1)
                    )

    final = {n: w.numpy() for n, w in zip(names, weights)}
    if training.checkpoint == "best_val" and val_inputs is not None:
        out_weights = {n: np.where(_bcast(np.isfinite(best_val), best[n]), best[n], final[n]) for n in names}
        selected = np.where(np.isfinite(best_val), selected, step)
    else:
        out_weights, selected = final, np.full(k, step, np.int64)
    return TrainOutcome(
        weights=out_weights,
        log_steps=np.asarray(log_steps, np.int64),
        train_mse=np.asarray(train_curve, np.float64).reshape(-1, k),
        val_mse=np.asarray(val_curve, np.float64).reshape(-1, k),
        diverged_step=diverged.numpy(),
        selected_step=selected,
        seconds=time.perf_counter() - start,
        compile_seconds=first_chunk[0] if first_chunk else 0.0,
        steady_steps_per_s=_steady_rate(time.perf_counter() - start, training.steps, first_chunk),
        probe_mse=np.asarray(probe_curve, np.float64).reshape(len(log_steps), k, len(probe_sets)),
    )


def _steady_rate(seconds: float, steps: int, first: tuple[float, int] | None) -> float:
    """Steps per second excluding the first call (its compilation and its steps alike)."""
    if first is None or steps <= first[1]:
        return steps / max(seconds, 1e-9)
    return (steps - first[1]) / max(seconds - first[0], 1e-9)


def _bcast(mask: np.ndarray, like: np.ndarray) -> np.ndarray:
    return mask.reshape((-1,) + (1,) * (like.ndim - 1))


def predict(
    arch: Architecture,
    params: dict,
    weights: dict[str, np.ndarray],
    a: np.ndarray,
    b: np.ndarray,
    max_elems: int = 1 << 22,
) -> np.ndarray:
    """Predictions of K stacked models on inputs a, b of shape [K, n] (or [n], shared)."""
    names = tuple(sorted(weights))
    k = next(iter(weights.values())).shape[0]
    a = np.broadcast_to(np.asarray(a, np.float32), (k, np.shape(a)[-1]))
    b = np.broadcast_to(np.asarray(b, np.float32), (k, np.shape(b)[-1]))
    rows = _rows_per_call(k, arch.width(params), max_elems)
    fn = _predict_fn(arch, params, names)
    w = tuple(tf.constant(weights[n]) for n in names)
    out = [
        fn(w, tf.constant(a[:, i : i + rows]), tf.constant(b[:, i : i + rows])).numpy()
        for i in range(0, a.shape[1], rows)
    ]
    return np.concatenate(out, axis=1) if out else np.zeros((k, 0), np.float32)


_PREDICT: dict[tuple, Callable] = {}


def _predict_fn(arch: Architecture, params: dict, names: tuple[str, ...]) -> Callable:
    key = (arch.name, repr(sorted(params.items())), names)
    if key not in _PREDICT:
        _PREDICT[key] = tf.function(lambda w, a, b: arch.forward(params, dict(zip(names, w)), a, b))
    return _PREDICT[key]
