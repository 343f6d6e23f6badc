"""Per-model batch indices from a counter-based hash.

Row j of model k's batch at global step s is `mix(mix(s·B + j) ^ key_k) mod n`. It depends
only on the model's key, the step and the window size — never on bundle-mates — so a model
sees the same batches alone or in any bundle, and the indices are computed inside the
compiled training loop with no host work per step. Sampling is with replacement.
"""

from __future__ import annotations

import numpy as np

from tasks.ids import seed_from

MASK32 = 0xFFFFFFFF


def stream_key(seed: int) -> int:
    return seed_from("batches", seed) & MASK32


def mix32_np(x: np.ndarray) -> np.ndarray:
    """lowbias32 (a bijection on 32-bit integers), on uint64 holding 32-bit values."""
    x = x.astype(np.uint64) & np.uint64(MASK32)
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & np.uint64(MASK32)
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & np.uint64(MASK32)
    x ^= x >> np.uint64(16)
    return x


def batch_indices_np(keys: np.ndarray, step: int, batch: int, n_rows: int) -> np.ndarray:
    """Reference implementation: indices [K, batch] for one step."""
    j = np.arange(batch, dtype=np.uint64) + np.uint64(step * batch)
    u = mix32_np(j)[None, :]
    v = mix32_np(u ^ np.asarray(keys, dtype=np.uint64)[:, None])
    return (v % np.uint64(n_rows)).astype(np.int64)


def mix32_tf(x):
    import tensorflow as tf

    m = tf.constant(MASK32, tf.int64)
    x = tf.bitwise.bitwise_and(x, m)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))
    x = tf.bitwise.bitwise_and(x * 0x7FEB352D, m)  # int64 wraps; the low 32 bits are exact
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 15))
    x = tf.bitwise.bitwise_and(x * 0x846CA68B, m)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))


def batch_indices_tf(keys, step, batch: int, n_rows):
    """The same indices as `batch_indices_np`, as int64 [K, batch], inside a TF graph."""
    import tensorflow as tf

    j = tf.range(batch, dtype=tf.int64) + tf.cast(step, tf.int64) * batch
    u = mix32_tf(j)[None, :]
    v = mix32_tf(tf.bitwise.bitwise_xor(u, keys[:, None]))
    return v % tf.cast(n_rows, tf.int64)
