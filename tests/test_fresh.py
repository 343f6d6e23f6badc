"""Fresh data per iteration (`training.data: fresh`): each member's batches are drawn in the
compiled step from its own counter-based stream over its training range (unions and
log-uniform included), the same in the graph as in the NumPy reference, alone or in a bundle;
the option enters the model's identity, and the training sets it replaces are never stored."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from tasks.core.ranges import Ranges
from tasks.model import fresh, registry
from tasks.model.fresh import RangeTable, batch_np, batch_tf, fresh_key, uniforms_np, uniforms_tf
from tasks.model.settings import TrainingConfig
from tasks.model.trainer import BundleData, train_bundle

KEYS = [fresh_key(s) for s in (0, 1, 2, 99)]


def test_uniforms_in_graph_equal_the_reference_bit_for_bit(tf):
    for step in (0, 1, 123_456, 4_999_999):
        ref = uniforms_np(KEYS, step, 12_800)
        got = uniforms_tf(tf.constant(KEYS, tf.int64), tf.constant(step, tf.int64), 12_800).numpy()
        np.testing.assert_array_equal(got, ref)
        assert ref.dtype == np.float32 and ref.min() >= 0 and ref.max() < 1


def test_inputs_in_the_compiled_step_match_the_reference(tf):
    table = RangeTable.of(
        [Ranges.of((0, 1)), Ranges.of((-6, -2), (2, 6)), Ranges.of((1, 2)), Ranges.of((10, 20))], "uniform"
    )
    draw = tf.function(
        lambda step: batch_tf(table.tensors(), tf.constant(KEYS, tf.int64), step, 64, 3, False), jit_compile=True
    )
    for step in (0, 77):
        ref = batch_np(table, KEYS, step, 64, 3)
        np.testing.assert_allclose(draw(tf.constant(step, tf.int64)).numpy(), ref, rtol=1e-6, atol=1e-6)
    logs = RangeTable.of([Ranges.of((0.1, 10))] * 4, "log_uniform")
    got = batch_tf(logs.tensors(), tf.constant(KEYS, tf.int64), tf.constant(5, tf.int64), 64, 3, True).numpy()
    np.testing.assert_allclose(got, batch_np(logs, KEYS, 5, 64, 3), rtol=1e-5)


def test_draws_follow_the_range_and_its_distribution():
    """Kolmogorov–Smirnov against the exact distribution over 50,000 draws: uniform on an
    interval, uniform on a union (pieces by length, 1:3 here), log-uniform."""
    cases = [
        (Ranges.of((1, 2)), "uniform", stats.uniform(1, 1).cdf),
        (
            Ranges.of((-2, -1), (1, 4)),
            "uniform",
            lambda x: np.where(x < 0, (x + 2) / 4, np.clip(0.25 + (x - 1) / 4, 0.25, 1)),
        ),
        (Ranges.of((0.1, 10)), "log_uniform", stats.loguniform(0.1, 10).cdf),
    ]
    for ranges, distribution, cdf in cases:
        x = batch_np(RangeTable.of([ranges], distribution), KEYS[:1], 3, 500, 100).ravel()
        assert ranges.contains(x).all()
        assert stats.kstest(x, cdf).pvalue > 1e-3, (ranges.label(), distribution)


def test_streams_are_independent_across_members_steps_and_positions():
    u = np.stack([uniforms_np(KEYS, s, 4096) for s in range(20)])  # [steps, K, n]
    centred = u - 0.5
    pairs = {
        "members": (centred[:, 0], centred[:, 1]),
        "steps": (centred[:-1], centred[1:]),
        "neighbours": (centred[..., :-1], centred[..., 1:]),
    }
    for name, (a, b) in pairs.items():
        corr = np.corrcoef(a.ravel(), b.ravel())[0, 1]
        assert abs(corr) < 0.01, (name, corr)
    assert len(np.unique(u[:, 0])) > 0.99 * u[:, 0].size  # words repeat only at a 32-bit generator's rate


def test_a_member_draws_the_same_stream_alone_or_in_a_bundle(tf):
    mlp, params = registry.get("mlp"), {"hidden": [8], "activation": "relu"}
    t = TrainingConfig("adam", 0.01, 32, 60, "mean", 20, 1000, "last", None, data="fresh")
    ranges = [Ranges.of((0, 1)), Ranges.of((-2, -1), (1, 2)), Ranges.of((1, 2))]
    seeds = [3, 8, 5]
    val = np.random.default_rng(0).uniform(0, 1, (1, 100, 2)).astype(np.float32)

    def data(rs):
        return BundleData([0] * len(rs), (), None, val, fresh=RangeTable.of(rs, "uniform"))

    bundle = train_bundle(mlp, params, t, seeds, data(ranges))
    alone = train_bundle(mlp, params, t, [seeds[1]], data([ranges[1]]))
    for name, w in bundle.weights.items():
        np.testing.assert_allclose(w[1], alone.weights[name][0], rtol=2e-5, atol=2e-6)
    other_seed = train_bundle(mlp, params, t, [4], data([ranges[1]]))
    assert not np.allclose(other_seed.weights["l0_w"], alone.weights["l0_w"])


@pytest.fixture
def fresh_plan(write_config):
    from tasks.study.loading import load_config
    from tasks.study.plan import make_plan

    def plan(data: str | None, second: str | None = None):
        overrides = {"training.data": data} if data else {}
        if second:
            overrides["architectures"] = [
                {"arch": "mlp", "hidden": [16], "activation": "relu"},
                {"arch": "mlp", "hidden": [16], "activation": "relu", "training": {"data": second}},
            ]
        return make_plan(load_config(write_config(overrides)))

    return plan


def test_fresh_data_enters_the_model_identity_and_stores_no_training_set(fresh_plan):
    default, explicit, drawn = fresh_plan(None), fresh_plan("dataset"), fresh_plan("fresh")
    ids = [m.model_id for m in default.models]
    assert ids == [m.model_id for m in explicit.models]  # the default source keeps every model's id
    assert not set(ids) & {m.model_id for m in drawn.models}
    train_sets = {m.train_dataset for m in drawn.models}
    assert drawn.streams == train_sets and not train_sets & set(drawn.stored_datasets)
    assert set(drawn.stored_datasets) == set(default.stored_datasets) - {m.train_dataset for m in default.models}
    mixed = fresh_plan(None, second="fresh")  # one architecture of each: the training sets are stored
    assert not mixed.streams and len({m.model_id for m in mixed.models}) == len(mixed.models)


def test_fresh_bundles_compute_y_in_the_step_for_each_operation(write_config):
    """Stored y lets several operations share a bundle; fresh draws carry no y, so each
    bundle holds one operation (the step computes its y)."""
    from tasks.study.bundles import make_bundles
    from tasks.study.loading import load_config
    from tasks.study.plan import make_plan

    target = {"name": "inputs", "operation": ["mul", "add"]}
    for data, mixed in (("dataset", True), ("fresh", False)):
        plan = make_plan(load_config(write_config({"target": target, "training.data": data, "train_ranges": [[1, 2]]})))
        ops = [{m.target.operation.name for m in b.models} for b in make_bundles(plan, list(plan.models), 1)]
        assert any(len(o) > 1 for o in ops) == mixed


def test_only_uniform_and_log_uniform_are_drawn():
    with pytest.raises(ValueError, match="distribution"):
        fresh.RangeTable.of([Ranges.of((0, 1))], "normal")
