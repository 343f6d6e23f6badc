"""Fresh training data per iteration, drawn inside the compiled step (`training.data: fresh`).

The papers (stable-nalu, the NALM benchmark) draw a new batch at every iteration from each
seed's own generator; materialising such streams (10⁶-row sets per seed) would need tens of
GB. Here member k's batch at step s is a pure function of (its stream key, s): a counter-based
hash gives uniform numbers u in [0, 1), which the inverse CDF of the training range (a union
of intervals, uniform or log-uniform over it) turns into inputs. No state is carried between
steps, so a member draws the same stream alone, in any bundle, and after a resume at any step.

    a_k(s)   = mix(mix(s) ^ key_k)               one word per member and step
    h(k,s,i) = mix(mix(i) ^ a_k(s))              element i of the batch [B·N], row-major
    u        = (h >> 8) · 2⁻²⁴                   24 random bits: every float32 in [0, 1) this fine

`mix` is lowbias32 (tasks.model.batches), a bijection on 32-bit words: one member's batches
never repeat a word within a step, and two steps share numbers only at the rate of any 32-bit
generator. NumPy reference and TensorFlow graph agree bit for bit (tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tasks.core.ids import seed_from
from tasks.core.ranges import Ranges

MASK32 = 0xFFFFFFFF
UNIT = 2.0**-24


def fresh_key(seed: int) -> int:
    """Member's stream key: from its model seed alone (not its dataset's, not its bundle's)."""
    return seed_from("fresh-batches", seed) & MASK32


def _mix_np(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.uint32)
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    return x ^ (x >> np.uint32(16))


def uniforms_np(keys: Sequence[int], step: int, count: int) -> np.ndarray:
    """Reference: u [K, count] float32 of members with `keys` at `step`."""
    with np.errstate(over="ignore"):
        a = _mix_np(_mix_np(np.uint32(step)) ^ np.asarray(keys, np.uint32))
        h = _mix_np(_mix_np(np.arange(count, dtype=np.uint32))[None, :] ^ a[:, None])
    return ((h >> np.uint32(8)).astype(np.float32) * np.float32(UNIT)).astype(np.float32)


def _mix_tf(x):
    import tensorflow as tf

    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))
    x = x * tf.constant(0x7FEB352D, tf.uint32)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 15))
    x = x * tf.constant(0x846CA68B, tf.uint32)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))


def uniforms_tf(keys, step, count: int):
    """The same u [K, count] as `uniforms_np`, inside a graph (`keys` int64 [K], `step` int64)."""
    import tensorflow as tf

    step32 = tf.cast(tf.bitwise.bitwise_and(step, MASK32), tf.uint32)
    a = _mix_tf(tf.bitwise.bitwise_xor(_mix_tf(step32), tf.cast(keys, tf.uint32)))
    # mix(i) is the same at every step: computed once when traced, a constant of the compiled step
    mixed_i = tf.constant(_mix_np(np.arange(count, dtype=np.uint32)))
    h = _mix_tf(tf.bitwise.bitwise_xor(mixed_i[None, :], a[:, None]))
    return tf.cast(tf.bitwise.right_shift(h, 8), tf.float32) * UNIT


@dataclass(frozen=True)
class RangeTable:
    """Each member's training range as an inverse-CDF table (float32 [K, J]): piece j covers
    [start[k, j], start[k, j] + width[k, j]) of the measure (log-space for log_uniform) and
    begins at the fraction `cum[k, j]` of the total; unused pieces have width 0 and are
    never chosen. Passed to the compiled step as tensors: one compilation serves any range."""

    start: np.ndarray
    width: np.ndarray
    cum: np.ndarray
    log: bool  # log_uniform: inputs are exp of the drawn value

    @staticmethod
    def of(ranges: Sequence[Ranges], distribution: str) -> RangeTable:
        """The table of members whose training ranges are `ranges` (one per member)."""
        if distribution not in ("uniform", "log_uniform"):
            raise ValueError(f"fresh data cannot draw from the distribution {distribution!r}")
        log = distribution == "log_uniform"
        pieces = max(len(r.intervals) for r in ranges)
        start, width, cum = (np.zeros((len(ranges), pieces), np.float64) for _ in range(3))
        for k, r in enumerate(ranges):
            ivs = np.log(np.asarray(r.intervals)) if log else np.asarray(r.intervals, np.float64)
            w = ivs[:, 1] - ivs[:, 0]
            start[k, : len(w)], width[k, : len(w)] = ivs[:, 0], w
            cum[k, : len(w)] = np.concatenate([[0.0], np.cumsum(w)[:-1]]) / w.sum()
            cum[k, len(w) :] = 2.0  # above every u: never chosen
        return RangeTable(start.astype(np.float32), width.astype(np.float32), cum.astype(np.float32), log)

    def tensors(self) -> tuple:
        import tensorflow as tf

        return tuple(tf.constant(t) for t in (self.start, self.width, self.cum))


def inputs_np(table: RangeTable, u: np.ndarray) -> np.ndarray:
    """Reference: inputs [K, n] (float32) from u [K, n]."""
    j = (u[:, :, None] >= table.cum[:, None, :]).sum(axis=2) - 1  # the piece u falls in
    total = table.width.sum(axis=1, dtype=np.float32)[:, None]
    at = lambda t: np.take_along_axis(t, j, axis=1)  # noqa: E731
    x = at(table.start) + (u - at(table.cum)) * total
    return np.exp(x) if table.log else x


def inputs_tf(u, start, width, cum, log: bool):
    """The same inputs as `inputs_np`, inside a graph (the table's tensors [K, J])."""
    import tensorflow as tf

    total = tf.reduce_sum(width, axis=1)[:, None]
    if start.shape[1] == 1:  # every range one interval (known when traced): the piece is 0, no gather
        x = start + (u - cum) * total  # the same numbers; XLA's gather of [K, B·N] pieces costs 3x the step
    else:
        j = tf.reduce_sum(tf.cast(u[:, :, None] >= cum[:, None, :], tf.int32), axis=2) - 1
        x = tf.gather(start, j, batch_dims=1) + (u - tf.gather(cum, j, batch_dims=1)) * total
    return tf.exp(x) if log else x


def batch_np(table: RangeTable, keys: Sequence[int], step: int, batch: int, n: int) -> np.ndarray:
    """Reference: inputs [K, batch, n] of every member at `step`."""
    return inputs_np(table, uniforms_np(keys, step, batch * n)).reshape(len(keys), batch, n)


def batch_tf(tables, keys, step, batch: int, n: int, log: bool):
    """Inputs [K, batch, n] (float32) of every member at `step`; `tables` = RangeTable.tensors()."""
    import tensorflow as tf

    x = inputs_tf(uniforms_tf(keys, step, batch * n), *tables, log)
    return tf.reshape(x, [tf.shape(keys)[0], batch, n])
