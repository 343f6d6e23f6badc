"""Products in the form for their shape (tasks.core.products): the batched product's values, and
each member's bits the same in a bundle as alone — the form XLA would otherwise pick for a batch
of matrix-vector products rounds a member differently at K = 1 and K > 1."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.core import products
from tasks.data.targets import REGISTRY as TARGETS


def _compiled(tf, fn):
    return tf.function(fn, jit_compile=True)


@pytest.mark.parametrize(
    ("rows", "inputs", "columns"),
    [(128, 100, 2), (1000, 100, 4), (128, 2, 80), (1000, 2, 1), (128, 80, 1), (64, 20, 16)],
)
def test_every_form_gives_the_batched_product_and_each_member_its_own_bits(tf, rows, inputs, columns):
    rng = np.random.default_rng(3)
    x = rng.uniform(1, 2, (5, rows, inputs)).astype(np.float32)
    w = rng.uniform(-1, 1, (5, inputs, columns)).astype(np.float32)
    product = _compiled(tf, products.product)
    bundle = product(tf.constant(x), tf.constant(w)).numpy()
    np.testing.assert_allclose(bundle, np.einsum("kbi,kio->kbo", x, w), rtol=1e-5, atol=1e-4)
    for k in range(5):
        alone = product(tf.constant(x[k : k + 1]), tf.constant(w[k : k + 1])).numpy()[0]
        assert np.array_equal(bundle[k], alone), f"member {k} differs from its own product alone"


def test_a_few_inputs_are_summed_in_order_of_the_inputs(tf):
    """Two inputs: a·w₀ + b·w₁ in float32, as written (the MLP's first layer, a 2 → 1 layer)."""
    rng = np.random.default_rng(5)
    x = rng.uniform(-3, 3, (2, 64, 2)).astype(np.float32)
    w = rng.uniform(-1, 1, (2, 2, 8)).astype(np.float32)
    got = _compiled(tf, products.product)(tf.constant(x), tf.constant(w)).numpy()
    by_hand = x[..., 0:1] * w[:, None, 0, :] + x[..., 1:2] * w[:, None, 1, :]
    np.testing.assert_allclose(got, by_hand, rtol=1e-6, atol=1e-6)


def test_the_subset_targets_sums_are_a_members_own_in_a_bundle(tf):
    target = TARGETS["subset"]
    params = {"input_size": 100, "subset_ratio": 0.25, "overlap_ratio": 0.5}
    layouts = np.stack([target.layout(params, seed) for seed in (0, 5, 9)]).astype(np.float32)
    x = np.random.default_rng(4).uniform(1, 2, (3, 128, 100)).astype(np.float32)
    y = _compiled(tf, lambda x, layouts: target.y_tf(params, x, layouts))
    bundle = y(tf.constant(x), tf.constant(layouts)).numpy()
    for k in range(3):
        assert np.array_equal(bundle[k], y(tf.constant(x[k : k + 1]), tf.constant(layouts[k : k + 1])).numpy()[0])
    a, b = (np.einsum("kbn,kn->kb", x.astype(np.float64), layouts[:, s]) for s in (0, 1))
    np.testing.assert_allclose(bundle, a * b, rtol=1e-5)
