"""Products of K members' inputs with their weights, x [K, B, I] · w [K, I, O] → [K, B, O],
inside a compiled TF step, in the form XLA runs fastest on a CPU for the lab's shapes:

- a few inputs (I ≤ MAX_TERMS: the MLP's first layer on a and b, a 2 → 1 layer): a sum of
  broadcast products, elementwise, which XLA fuses with the bias and activation around it,
  where a dot of contraction 2 is a library call of its own. The article's MLP trained
  1.15–1.3× faster at K = 1, 8 and 12 on an Intel Xeon;
- a few output columns (O ≤ MAX_COLUMNS: a stack's first layer on 100 inputs, a subset task's
  two sums, an MLP's output): one matrix-vector product per member and column, where XLA runs
  the batched einsum as a general matrix product that packs x first. The NAU → NMU step at
  K = 1 trained 1.13–1.4× faster. A batch of matrix-vector products (which is what the einsum
  of one column is) rounds a member differently at K = 1 and K > 1, so each member's product
  is its own (K = 1 directly, more in a loop);
- anything else: the batched einsum.

Each form gives a member the same bits alone or in a bundle (tests/test_products.py);
measurements in docs/internals/speed.md. On a GPU the batched einsum stays everywhere: one
kernel for thousands of members.
"""

from __future__ import annotations

MAX_TERMS = 2  # contractions this short: broadcast products
MAX_COLUMNS = 4  # outputs this narrow: per-member matrix-vector products


def _on_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


def product(x, w):
    """x [K, B, I] · w [K, I, O] → [K, B, O] in the form for its shape (above)."""
    import tensorflow as tf

    i, o = w.shape[-2], w.shape[-1]
    if _on_gpu() or None in (x.shape[0], x.shape[1], i, o):  # the forms below need static shapes
        return tf.einsum("kbi,kio->kbo", x, w)
    if i <= MAX_TERMS:
        return _terms(x, w)
    if o <= MAX_COLUMNS:
        return _columns(x, w)
    return tf.einsum("kbi,kio->kbo", x, w)


def _terms(x, w):
    """Σᵢ x[..., i] · w[i, :], in order of i."""
    out = x[..., 0:1] * w[:, None, 0, :]
    for i in range(1, w.shape[-2]):
        out = out + x[..., i : i + 1] * w[:, None, i, :]
    return out


def _member(x, w, columns: int):
    """x [B, I] · w [I, O] as O matrix-vector products: [B, O]."""
    import tensorflow as tf

    return tf.stack([tf.linalg.matvec(x, w[:, o]) for o in range(columns)], axis=-1)


def _columns(x, w):
    """Member by member: the same operation for a member at any K."""
    import tensorflow as tf

    k, o = x.shape[0], w.shape[-1]
    if k == 1:
        return _member(x[0], w[0], o)[None]

    def body(m, out):
        return m + 1, out.write(m, _member(x[m], w[m], o))

    out = tf.TensorArray(x.dtype, size=k, element_shape=[x.shape[1], o])
    return tf.while_loop(lambda m, _: m < k, body, (0, out))[1].stack()
