"""Products with a few columns (tasks.core.products): the batched product's values, and each
member's bits the same in a bundle as alone — the form XLA would otherwise pick for a batch of
matrix-vector products rounds a member differently at K = 1 and K > 1."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.core import products
from tasks.data.targets import REGISTRY as TARGETS


def _compiled(tf, fn):
    return tf.function(fn, jit_compile=True)


@pytest.mark.parametrize(("rows", "columns"), [(128, 2), (1000, 4)])
def test_a_few_columns_give_the_batched_product_and_each_member_its_own_bits(tf, rows, columns):
    rng = np.random.default_rng(3)
    x = rng.uniform(1, 2, (5, rows, 100)).astype(np.float32)
    w = rng.uniform(-1, 1, (5, 100, columns)).astype(np.float32)
    assert products.few_columns(tf.constant(w))
    product = _compiled(tf, products.columns)
    bundle = product(tf.constant(x), tf.constant(w)).numpy()
    np.testing.assert_allclose(bundle, np.einsum("kbi,kio->kbo", x, w), rtol=1e-5, atol=1e-5)
    for k in range(5):
        alone = product(tf.constant(x[k : k + 1]), tf.constant(w[k : k + 1])).numpy()[0]
        assert np.array_equal(bundle[k], alone), f"member {k} differs from its own product alone"


def test_one_column_and_wide_layers_keep_the_batched_product(tf):
    assert not products.few_columns(tf.zeros([3, 100, 1]))
    assert not products.few_columns(tf.zeros([3, 2, products.MAX_COLUMNS + 1]))


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
