"""Products of K members' inputs with a few columns each, inside a compiled TF step.

`columns(x, w)`: x [K, B, I] · w [K, I, O] → [K, B, O] for small O (the NAU's two hidden units
on 100 inputs, a subset task's two masks). On a CPU, XLA runs a batched einsum of that shape as
a general matrix product that packs x first; one matrix-vector product per member and column
reads x as it lies. The NAU → NMU step on 100 inputs at K = 1 trained 1.13–1.2× faster on an
Intel Xeon (docs/internals/speed.md). Each member's product is the same operation at any K
(K = 1 directly, more in a loop over members), so a member in a bundle still gets the bits it
gets alone. On a GPU the batched einsum stays: one kernel for thousands of members.
"""

from __future__ import annotations

MAX_COLUMNS = 4  # wider outputs: the batched einsum, as before


def few_columns(w) -> bool:
    """Whether w [K, I, O] has a static O in 2..MAX_COLUMNS (O = 1 and wide layers unchanged)."""
    o = w.shape[-1]
    return o is not None and 2 <= o <= MAX_COLUMNS


def _member(x, w, columns: int):
    """x [B, I] · w [I, O] as O matrix-vector products: [B, O]."""
    import tensorflow as tf

    return tf.stack([tf.linalg.matvec(x, w[:, o]) for o in range(columns)], axis=-1)


def columns(x, w):
    """x [K, B, I] · w [K, I, O] → [K, B, O], member by member on a CPU."""
    import tensorflow as tf

    if tf.config.list_logical_devices("GPU"):
        return tf.einsum("kbi,kio->kbo", x, w)
    k, o = x.shape[0], w.shape[-1]
    if k == 1:
        return _member(x[0], w[0], o)[None]

    def body(m, out):
        return m + 1, out.write(m, _member(x[m], w[m], o))

    out = tf.TensorArray(x.dtype, size=k, element_shape=[x.shape[1], o])
    return tf.while_loop(lambda m, _: m < k, body, (0, out))[1].stack()
