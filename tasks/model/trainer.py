"""Vectorized training: K models of one architecture trained as one compiled computation.

Weights of the K members are stacked on a leading axis; one XLA-compiled `while_loop` runs
many steps per call, sampling each member's batch in-graph (tasks.model.batches), computing
the K losses, their gradients and an elementwise optimizer update. Members never interact,
so a member trained in a bundle equals the same model trained alone (tests prove it).

Data arrive in windows (a bounded number of rows per dataset at a time), so memory does
not grow with the dataset, or are drawn fresh inside the step (tasks.model.feeds). One call
trains several log intervals and evaluates after each (tasks.model.pieces). Between calls
the loop's state may be saved, and a saved state resumed from with a bit-identical outcome
(tasks.model.loop_state). A member whose loss or weights become
non-finite is frozen at its last finite weights and reported as diverged at that step; the
others carry on.
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
from tasks.model import optimizers, tracing
from tasks.model.architecture import Architecture
from tasks.model.feeds import FeedKind, FreshFeed, WindowFeed, rows_tf, window_schedule
from tasks.model.fresh import RangeTable
from tasks.model.inference import rows_per_call
from tasks.model.loop_state import Checkpoints, LoopState, TrainLog
from tasks.model.pieces import CallSizes, pieces, set_mses
from tasks.model.settings import TrainingConfig

__all__ = ["BundleData", "TrainOutcome", "init_weights", "train_bundle", "window_schedule"]


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
    prepare_seconds: float = 0.0  # before the first step, once per task: evaluation sets, state, first window
    probe_mse: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))  # [L, K, E]
    resumed_at: int = 0  # the step a saved state resumed from (0: trained from the start)


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
    fresh: RangeTable | None = None  # fresh draws per step from each member's range, not the windows

    def feed(self, seeds: Sequence[int]) -> WindowFeed | FreshFeed:
        if self.fresh is not None:
            return FreshFeed(self.fresh, seeds)
        return WindowFeed(self.load_window, self.window_rows, self.dataset_index, seeds, self.first_window)


def init_weights(arch: Architecture, params: dict, seeds: Sequence[int], n_inputs: int) -> dict[str, np.ndarray]:
    """Each member initialised from its own seed only, then stacked."""
    per_model = [arch.init(params, np.random.default_rng([int(s), 0x1A17]), n_inputs) for s in seeds]
    return {name: np.stack([w[name] for w in per_model]) for name in sorted(per_model[0])}


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
    """The compiled training function for one architecture, step config and target; cached
    per process, so a reused Ray worker compiles each shape once."""

    def __init__(
        self, arch: Architecture, params: dict, training: StepConfig, names: tuple[str, ...], target, feed: FeedKind
    ):
        self.arch, self.params, self.training, self.names, self.target = arch, params, training, names, target
        self.feed = feed
        self.run = tracing.function(self._run, jit_compile=True)
        self.split = tracing.function(self._split, jit_compile=True)

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

    def _steps(self, weights, state, alive, diverged, feed, keys, layouts, step0, n_steps):
        """`n_steps` training steps from global step `step0`; the members' MSE summed over them."""
        t = self.training

        # Fresh rows are drawn one step ahead and carried by the loop: drawn in the step that
        # reads them, the compiler fuses their drawing into each elementwise or matrix-vector
        # product that reads them (tasks.core.products) and draws them again in each (2.4×
        # slower). Stored rows are gathered in the step that reads them: carried, they trained
        # 1.25× slower.
        carried = self.feed.fresh

        def rows_at(step):
            return rows_tf(self.feed, feed, keys, step, t.batch_size, self.target.n_inputs)

        def body(i, ahead, weights, state, alive, diverged, mse_sum):
            step = step0 + tf.cast(i, tf.int64)
            rows = ahead if carried else rows_at(step)
            x, y = self._split(rows, layouts)  # [K, B, N], [K, B]
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
            weights = tuple(_keep(ok, n, o) for n, o in zip(new_w, weights))
            state = tuple(_keep(ok, n, o) for n, o in zip(new_s, state))
            diverged = tf.where(alive & ~ok, step, diverged)
            mse_sum += tf.where(ok, mse, 0.0)
            return i + 1, rows_at(step + 1) if carried else ahead, weights, state, ok, diverged, mse_sum

        k = tf.shape(keys)[0]
        ahead = rows_at(step0) if carried else tf.zeros([0])
        _, _, weights, state, alive, diverged, mse_sum = tf.while_loop(
            lambda i, *_: i < n_steps,
            body,
            (tf.constant(0), ahead, weights, state, alive, diverged, tf.zeros([k], tf.float32)),
        )
        return weights, state, alive, diverged, mse_sum

    def _sse(self, weights, blocks):
        """Per block, each member's summed squared error: [blocks, K] float32."""
        named = dict(zip(self.names, weights))
        errors = [tf.square(self.arch.forward(self.params, named, x) - y) for x, y in blocks]
        return tf.stack([tf.reduce_sum(e, axis=1) for e in errors])

    def _run(self, weights, state, alive, diverged, best, feed, keys, layouts, step0, lengths, evals, blocks, val):
        """Several pieces of training in one call: piece m trains `lengths[m]` steps, then,
        where `evals[m]`, evaluates every set's `blocks` (a log point). `val` = (its number of
        blocks, rows) of the validation set, the first: (0, ·) tracks no best checkpoint;
        else `best` = (weights, validation MSE, step) of each member's best log point so far,
        kept here as the host kept it (float64 sums in block order, so the same MSE to the bit).
        Returns the state after the last piece, the best, and per piece: the training MSE
        summed, which members were alive after it, and the blocks' [blocks, K] errors."""
        n_val, val_rows = val
        k, n_pieces = keys.shape[0], lengths.shape[0]
        sums = tf.TensorArray(tf.float32, size=n_pieces, element_shape=[k])
        alives = tf.TensorArray(tf.bool, size=n_pieces, element_shape=[k])

        def piece(m, step, weights, state, alive, diverged, best, sums, alives, *errors):
            weights, state, alive, diverged, mse_sum = self._steps(
                weights, state, alive, diverged, feed, keys, layouts, step, lengths[m]
            )
            step += tf.cast(lengths[m], tf.int64)
            if blocks:
                sse = tf.cond(evals[m], lambda: self._sse(weights, blocks), lambda: tf.zeros([len(blocks), k]))
                errors = (errors[0].write(m, sse),)
                if n_val:
                    best = _better(best, weights, sse[:n_val], val_rows, alive & evals[m], step)
            sums, alives = sums.write(m, mse_sum), alives.write(m, alive)
            return (m + 1, step, weights, state, alive, diverged, best, sums, alives, *errors)

        carry = (tf.constant(0), step0, weights, state, alive, diverged, best, sums, alives)
        errors = (tf.TensorArray(tf.float32, size=n_pieces, element_shape=[len(blocks), k]),) if blocks else ()
        out = tf.while_loop(lambda m, *_: m < n_pieces, piece, carry + errors)
        _, _, weights, state, alive, diverged, best, sums, alives = out[:9]
        errors = out[9].stack() if blocks else tf.zeros([n_pieces, 0, k])
        return weights, state, alive, diverged, best, sums.stack(), alives.stack(), errors

    def blocks(self, rows: np.ndarray, layouts: tf.Tensor) -> EvalSet:
        """Rows [K, n, N (+ 1)] as (x, y) tensors of row blocks (memory per call stays
        bounded), converted and their targets computed once per training: every log step
        then evaluates them without a copy and without recomputing y."""
        k, n = rows.shape[:2]
        block = rows_per_call(k, self.arch.width(self.params))
        return EvalSet(tuple(self.split(tf.constant(rows[:, i : i + block]), layouts) for i in range(0, n, block)), n)


def _keep(ok, new, old):
    """`new` where the member is still fine, else `old`."""
    mask = tf.reshape(ok, [-1] + [1] * (len(new.shape) - 1))
    return tf.where(mask, new, old)


def _better(best, weights, val_sse, rows, logged, step):
    """The best checkpoint after a log point: a member's weights, MSE and step replaced where
    its validation MSE (float64, summed block by block in order, as TrainLog receives it) is
    finite and below its best so far."""
    best_w, best_val, selected = best
    total = tf.zeros_like(best_val)
    for i in range(val_sse.shape[0]):
        total = total + tf.cast(val_sse[i], tf.float64)
    v = total / tf.cast(rows, tf.float64)
    better = logged & tf.math.is_finite(v) & (v < best_val)
    return (
        tuple(_keep(better, w, b) for w, b in zip(weights, best_w)),
        tf.where(better, v, best_val),
        tf.where(better, step, selected),
    )


@dataclass(frozen=True)
class EvalSet:
    """An evaluation set [K, n, ·] held as tensors of row blocks."""

    blocks: tuple
    n: int


_CACHE: dict[tuple, _Compiled] = {}


def _compiled(
    arch: Architecture, params: dict, training: StepConfig, names: tuple[str, ...], target: TargetSpec, feed: FeedKind
):
    key = (arch.name, repr(sorted(params.items())), training, names, target, feed)
    if key not in _CACHE:
        _CACHE[key] = _Compiled(arch, params, training, names, target, feed)
    return _CACHE[key]


def _watched(data: BundleData, comp: _Compiled, layouts: tf.Tensor) -> list[tuple[EvalSet, np.ndarray]]:
    """Per watched column e: the inputs [K, m, N] each member watches, and which have one."""
    if data.probes is None or data.probe_index is None or not data.probe_index.size:
        return []
    sets = []
    for e in range(data.probe_index.shape[1]):
        has = data.probe_index[:, e] >= 0
        sets.append((comp.blocks(data.probes[np.where(has, data.probe_index[:, e], 0)], layouts), has))
    return sets


def train_bundle(
    arch: Architecture,
    params: dict,
    training: TrainingConfig,
    seeds: Sequence[int],
    data: BundleData,
    initial_weights: dict[str, np.ndarray] | None = None,
    checkpoints: Checkpoints | None = None,
) -> TrainOutcome:
    """Train len(seeds) models together on `data`; see BundleData for the layout. With
    `checkpoints`, the loop's state is offered for saving between compiled calls, and a
    state an earlier run saved is resumed from (the outcome is the same bit for bit)."""
    k = len(seeds)
    start = time.perf_counter()
    n_inputs = data.target.n_inputs
    weights_np = initial_weights if initial_weights is not None else init_weights(arch, params, seeds, n_inputs)
    names = tuple(sorted(weights_np))
    feed = data.feed(seeds)
    comp = _compiled(arch, params, StepConfig.of(training), names, data.target, feed.kind)
    layouts = data.layouts if data.layouts is not None else data.target.layouts(seeds)
    layouts = tf.constant(np.asarray(layouts, np.float32))
    keys = tf.constant(feed.keys, tf.int64)
    ds_index = np.asarray(data.dataset_index, np.int64)
    val_rows = comp.blocks(data.val[ds_index], layouts) if data.val is not None else None  # [K, n, N]
    watched = _watched(data, comp, layouts)
    eval_sets = ([] if val_rows is None else [val_rows]) + [rows for rows, _ in watched]  # evaluated together
    blocks = tuple(b for rows in eval_sets for b in rows.blocks)
    track_best = val_rows is not None and training.checkpoint == "best_val"
    val_spec = (len(val_rows.blocks), val_rows.n) if track_best else (0, 1)
    log = TrainLog(k, weights_np, training.checkpoint, len(watched))
    saved = checkpoints.restore() if checkpoints is not None else None
    loop = _initial_state(training, weights_np, names, log, saved)
    weights = tuple(tf.constant(w) for w in loop.weights)
    state = tuple(tf.constant(s) for s in loop.optimizer)
    alive, diverged = tf.constant(loop.alive), tf.constant(loop.diverged)
    resumed_at, step = loop.step, loop.step

    first_chunk: tuple[float, int] | None = None  # (seconds, steps) of the first compiled call
    mse_acc, mse_count = loop.mse_acc, loop.mse_count
    prepared: float | None = None  # seconds until the first step: a task's fixed cost, not its rate's
    calls = CallSizes()
    for window, _, span_end in feed.spans(training.batch_size, training.steps, step):
        tensors = feed.tensors(window)
        if prepared is None:
            prepared = time.perf_counter() - start
        todo = pieces(step, span_end, training.steps, training.log_every)
        while todo:
            n_now = calls.next()
            these, todo = todo[:n_now], todo[n_now:]
            lengths, evals = calls.padded(these)
            best = (tuple(tf.constant(log.best[n]) for n in names), tf.constant(log.best_val))
            best += (tf.constant(log.selected),)
            t0 = time.perf_counter()
            weights, state, alive, diverged, best, sums, alives, errors = comp.run(
                weights, state, alive, diverged, best, tensors, keys, layouts, tf.constant(step, tf.int64),
                lengths, evals, blocks, val_spec,
            )  # fmt: skip
            sums, alives, errors = sums.numpy(), alives.numpy(), errors.numpy()
            calls.took(time.perf_counter() - t0)
            if not first_chunk:  # the first call compiles (or not, in a warm worker): timed apart
                first_chunk = (time.perf_counter() - t0, sum(n for n, _ in these))
            for i, (n, logged) in enumerate(these):
                step += n
                mse_count += n
                mse_acc = mse_acc + sums[i]
                if logged:
                    mses = set_mses(errors[i], eval_sets)
                    val = mses.pop(0) if val_rows is not None else None
                    log.point(step, mse_acc / mse_count, alives[i], val)
                    mse_acc, mse_count = np.zeros(k), 0
                    if watched:
                        probes = [np.where(has, m, np.nan) for m, (_, has) in zip(mses, watched)]
                        log.probes.append(np.stack(probes, axis=1))
            if track_best:
                log.set_best({n: w.numpy() for n, w in zip(names, best[0])}, best[1].numpy(), best[2].numpy())
            if checkpoints is not None and step < training.steps and checkpoints.due():
                now = LoopState(
                    step,
                    tuple(w.numpy() for w in weights),
                    tuple(s.numpy() for s in state),
                    alive.numpy(),
                    diverged.numpy(),
                    mse_acc,
                    mse_count,
                    loop.seconds + time.perf_counter() - start - prepared,
                )
                checkpoints.save(now.arrays(log, names))

    final = {n: w.numpy() for n, w in zip(names, weights)}
    out_weights, selected = log.selection(final, step, val_rows is not None)
    prepared = prepared or 0.0
    seconds = time.perf_counter() - start - prepared
    log_steps, train_mse, val_mse, probe_mse = log.curves()
    return TrainOutcome(
        weights=out_weights,
        log_steps=log_steps,
        train_mse=train_mse,
        val_mse=val_mse,
        diverged_step=diverged.numpy(),
        selected_step=selected,
        seconds=loop.seconds + seconds,
        compile_seconds=first_chunk[0] if first_chunk else 0.0,
        steady_steps_per_s=_steady_rate(seconds, training.steps - resumed_at, first_chunk),
        prepare_seconds=prepared,
        probe_mse=probe_mse,
        resumed_at=resumed_at,
    )


def _initial_state(
    training: TrainingConfig,
    weights: dict[str, np.ndarray],
    names: tuple[str, ...],
    log: TrainLog,
    saved: dict[str, np.ndarray] | None,
) -> LoopState:
    """Where the loop starts: a saved state (its log restored too), else step 0."""
    if saved is not None:
        log.restore(saved)
        return LoopState.from_arrays(saved, names)
    import tensorflow as tf

    optimizer = optimizers.init_state(training.optimizer, tuple(tf.constant(weights[n]) for n in names))
    k = len(log.best_val)
    return LoopState(
        0,
        tuple(weights[n] for n in names),
        tuple(s.numpy() for s in optimizer),
        np.ones(k, bool),
        np.full(k, -1, np.int64),
        np.zeros(k),
        0,
        0.0,
    )


def _steady_rate(seconds: float, steps: int, first: tuple[float, int] | None) -> float:
    """Steps per second excluding the first call (its compilation and its steps alike)."""
    if first is None or steps <= first[1]:
        return steps / max(seconds, 1e-9)
    return (steps - first[1]) / max(seconds - first[0], 1e-9)
