import time

import numpy as np
import pytest

from tasks.model import registry
from tasks.model.batches import batch_indices_np, batch_indices_tf, stream_key
from tasks.model.inference import predict
from tasks.model.settings import TrainingConfig
from tasks.model.trainer import BundleData, init_weights, train_bundle, window_schedule

MLP = registry.get("mlp")
SMALL = {"hidden": [8], "activation": "relu"}


def training(**kw) -> TrainingConfig:
    base = dict(
        optimizer="adagrad",
        learning_rate=0.05,
        batch_size=16,
        steps=60,
        loss_reduction="sum",
        log_every=20,
        window_rows=10_000,
        checkpoint="last",
        bundle_size=None,
    )
    return TrainingConfig(**{**base, **kw})


def product_data(n: int, lo: float, hi: float, seed: int) -> np.ndarray:
    """Inputs (a, b) [n, 2]: the product target computes y = a·b from them."""
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(lo, hi, n).astype(np.float32), rng.uniform(lo, hi, n).astype(np.float32)
    return np.stack([a, b], axis=1)


@pytest.fixture(scope="module")
def two_datasets():
    return np.stack([product_data(2000, 0, 1, 0), product_data(2000, 0, 2, 1)])


def test_batch_indices_in_graph_match_reference(tf):
    keys = np.array([stream_key(s) for s in (0, 1, 99)], np.int64)
    for step in (0, 7, 123_456):
        ref = batch_indices_np(keys, step, 32, 1000)
        got = batch_indices_tf(tf.constant(keys), step, 32, 1000).numpy()
        np.testing.assert_array_equal(got, ref)
    assert ref.min() >= 0 and ref.max() < 1000
    assert not np.array_equal(ref[0], ref[1])  # members draw different batches


@pytest.mark.parametrize("optimizer", ["adagrad", "adam", "sgd", "rmsprop"])
def test_member_in_bundle_equals_training_alone(tf, two_datasets, optimizer):
    """The bundle is exactly K independent trainings (elementwise optimizer, per-model batches)."""
    t = training(optimizer=optimizer, learning_rate=0.01)
    seeds, ds = [3, 5, 8, 13], [0, 1, 1, 0]
    bundle = train_bundle(MLP, SMALL, t, seeds, BundleData(ds, [2000], lambda w: two_datasets, two_datasets[:, :300]))
    for k in (1, 3):
        only = two_datasets[[ds[k]]]
        alone = train_bundle(MLP, SMALL, t, [seeds[k]], BundleData([0], [2000], lambda w, d=only: d, only[:, :300]))
        for name, w in bundle.weights.items():
            np.testing.assert_allclose(w[k], alone.weights[name][0], rtol=2e-5, atol=2e-6)
        np.testing.assert_allclose(bundle.train_mse[:, k], alone.train_mse[:, 0], rtol=1e-4)


def test_adagrad_matches_keras_on_one_step(tf):
    """Our Adagrad is TF1's (DNNRegressor); Keras 3's adds only epsilon=1e-7 inside the sqrt."""
    import keras

    data = product_data(256, 0, 1, 2)[None]
    t = training(steps=1, batch_size=256, log_every=1, loss_reduction="mean")
    init = init_weights(MLP, SMALL, [4], 2)
    ours = train_bundle(MLP, SMALL, t, [4], BundleData([0], [256], lambda w: data), initial_weights=init)
    # Keras reference on the same batch (our sampler's indices)
    idx = batch_indices_np(np.array([stream_key(4)]), 0, 256, 256)[0]
    x = data[0, idx]
    y = (x[:, 0] * x[:, 1])[:, None]
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    model.set_weights([init["l0_w"][0], init["l0_b"][0], init["l1_w"][0], init["l1_b"][0]])
    opt = keras.optimizers.Adagrad(learning_rate=0.05, initial_accumulator_value=0.1)
    model.compile(optimizer=opt, loss="mse")
    model.train_on_batch(x, y)
    ref = model.get_weights()
    np.testing.assert_allclose(ours.weights["l0_w"][0], ref[0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours.weights["l1_w"][0], ref[2], rtol=1e-4, atol=1e-6)


def test_training_learns_the_product(tf):
    data = product_data(20_000, 0, 1, 3)[None]
    t = training(steps=3000, batch_size=64, log_every=500)
    out = train_bundle(
        MLP,
        {"hidden": [32], "activation": "relu"},
        t,
        [0, 1],
        BundleData([0, 0], [20_000], lambda w: data, data[:, :2000]),
    )
    assert (out.val_mse[-1] < 0.01 * np.var(data[0, :, 0] * data[0, :, 1])).all()  # far better than the mean
    assert np.sqrt(out.val_mse[-1]).max() < 0.02
    assert out.log_steps.tolist() == [500, 1000, 1500, 2000, 2500, 3000]


def test_diverging_member_is_recorded_and_others_carry_on(tf, two_datasets):
    t = training()
    seeds = [1, 2, 3]
    init = init_weights(MLP, SMALL, seeds, 2)
    init["l1_w"][1] *= 1e30  # member 1 overflows on its first step
    out = train_bundle(
        MLP, SMALL, t, seeds, BundleData([0, 0, 0], [2000], lambda w: two_datasets, two_datasets[:, :300]), init
    )
    assert out.diverged_step.tolist() == [-1, 0, -1]
    clean = train_bundle(
        MLP, SMALL, t, [1, 3], BundleData([0, 0], [2000], lambda w: two_datasets, two_datasets[:, :300])
    )
    for name in out.weights:
        np.testing.assert_allclose(out.weights[name][[0, 2]], clean.weights[name], rtol=2e-5, atol=2e-6)
    assert np.isnan(out.val_mse[:, 1]).all() and np.isfinite(out.val_mse[:, [0, 2]]).all()


def test_streaming_windows_bound_memory_and_visit_all(tf):
    calls = []
    windows = [product_data(500, 0, 1, s)[None] for s in range(3)]

    def load(w):
        calls.append(w)
        return windows[w]

    t = training(steps=100, batch_size=50, log_every=50)
    out = train_bundle(MLP, SMALL, t, [0], BundleData([0], [500, 500, 500], load))
    assert out.log_steps.tolist() == [50, 100]
    assert calls[:3] == [0, 1, 2]  # ten steps (one pass) per window, then the next


def test_window_schedule():
    assert window_schedule([1000], 10, 250) == [(0, 250)]
    assert window_schedule([100, 100], 10, 35) == [(0, 10), (1, 10), (0, 10), (1, 5)]


def test_best_val_checkpoint_selects_a_logged_step(tf, two_datasets):
    t = training(checkpoint="best_val", steps=80)
    out = train_bundle(MLP, SMALL, t, [1, 2], BundleData([0, 1], [2000], lambda w: two_datasets, two_datasets[:, :300]))
    assert set(out.selected_step.tolist()) <= set(out.log_steps.tolist())
    for k in range(2):
        best = out.log_steps[np.nanargmin(out.val_mse[:, k])]
        assert out.selected_step[k] == best


def test_predict_matches_forward_on_hand_weights(tf):
    w = {
        "l0_w": np.array([[[1.0, -1.0], [1.0, 1.0]]], np.float32),
        "l0_b": np.array([[0.0, -1.0]], np.float32),
        "l1_w": np.array([[[2.0], [3.0]]], np.float32),
        "l1_b": np.array([[0.5]], np.float32),
    }
    a, b = np.array([1.0, 2.0], np.float32), np.array([2.0, -3.0], np.float32)
    # h = relu([a + b, -a + b - 1]); y = 2 h0 + 3 h1 + 0.5
    expected = [2 * 3 + 3 * 0 + 0.5, 2 * 0 + 3 * 0 + 0.5]
    np.testing.assert_allclose(predict(MLP, SMALL | {"hidden": [2]}, w, np.stack([a, b], axis=1))[0], expected)


def test_batch_rows_are_uniform_over_the_window():
    keys = np.array([stream_key(s) for s in range(8)], np.int64)
    n = 1000
    counts = np.zeros(n)
    for step in range(200):
        np.add.at(counts, batch_indices_np(keys, step, 128, n).ravel(), 1)
    expected = 8 * 200 * 128 / n
    assert counts.min() > 0.6 * expected and counts.max() < 1.4 * expected
    small = batch_indices_np(keys, 0, 128, 20)  # runs wrap around a window smaller than a run
    assert small.min() >= 0 and small.max() < 20


def test_window_order_starts_where_the_model_seed_says():
    assert window_schedule([100, 100, 100], 10, 35, first=2) == [(2, 10), (0, 10), (1, 10), (2, 5)]
    assert window_schedule([1000], 10, 35, first=0) == [(0, 35)]


def test_models_spread_over_windows_and_bundles_never_mix_orders(write_config):
    from tasks.study.bundles import make_bundles
    from tasks.study.loading import load_config
    from tasks.study.plan import make_plan

    config = load_config(write_config({"seeds": {"count": 12}, "training.window_rows": 1000}))  # 4 windows
    plan = make_plan(config)
    firsts = {m.first_window for m in plan.models}
    assert len(firsts) > 1 and firsts <= {0, 1, 2, 3}  # different models start in different windows
    for b in make_bundles(plan, list(plan.models), 2):
        assert {m.first_window for m in b.models} == {b.first_window}


def test_revisited_windows_are_read_from_the_store_once(tmp_path, monkeypatch, write_config):
    from tasks.jobs import train as train_job
    from tasks.jobs.generate import finish_dataset, write_shard
    from tasks.store import catalog
    from tasks.store.storage import Store
    from tasks.study.bundles import make_bundles
    from tasks.study.loading import load_config
    from tasks.study.plan import make_plan

    plan = make_plan(load_config(write_config({"seeds": [0], "training.window_rows": 2000})))
    store = Store(str(tmp_path))
    for spec in plan.datasets.values():
        finish_dataset(store, spec, [write_shard(store, spec, i) for i in range(spec.n_shards)])
    bundle = make_bundles(plan, [plan.models[0]], 1)[0]
    reads = []
    real = catalog.read_shards
    monkeypatch.setattr(catalog, "read_shards", lambda *a, **k: reads.append(a[2:]) or real(*a, **k))
    (tmp_path / "cache").mkdir()
    data = train_job.bundle_data(store, bundle, plan.datasets, str(tmp_path / "cache"))
    first = data.load_window(0)
    reads.clear()
    np.testing.assert_array_equal(data.load_window(0), first)
    assert reads == []  # the second visit came from the local copy


def test_a_window_on_huge_pages_trains_bit_for_bit_the_same(tf, two_datasets, monkeypatch):
    """Large windows are copied onto huge pages and shared with TensorFlow without a second
    copy (tasks.model.hostmem); the bytes are the same, so is every weight and curve."""
    from tasks.model import hostmem

    t = training(steps=80, log_every=20)
    data = lambda: BundleData([0, 1, 1], [2000], lambda w: two_datasets, two_datasets[:, :300])  # noqa: E731
    plain = train_bundle(MLP, SMALL, t, [1, 2, 3], data())
    monkeypatch.setattr(hostmem, "HUGE_PAGES_FROM", 0)  # every window, however small
    moved = hostmem.on_huge_pages(two_datasets)
    assert moved is not two_datasets and np.array_equal(moved, two_datasets)
    assert np.array_equal(hostmem.as_tensor(moved).numpy(), two_datasets)
    huge = train_bundle(MLP, SMALL, t, [1, 2, 3], data())
    for name, w in plain.weights.items():
        np.testing.assert_array_equal(w, huge.weights[name])
    np.testing.assert_array_equal(plain.train_mse, huge.train_mse)
    np.testing.assert_array_equal(plain.val_mse, huge.val_mse)


def test_preparing_the_evaluation_sets_is_a_fixed_cost_not_part_of_the_rate(tf, two_datasets, monkeypatch):
    """What a task pays once before its first step (here a slow preparation of its validation
    set, and the evaluation's first compilation) is reported apart: it lowers neither the
    training seconds nor the steady rate a study's estimate learns from."""
    from tasks.model import trainer

    data = BundleData([0, 1], [2000], lambda w: two_datasets, two_datasets[:, :300])
    t = training(steps=400, log_every=100, checkpoint="best_val")
    quick = train_bundle(MLP, SMALL, t, [1, 2], data)
    blocks = trainer._Compiled.blocks

    def slow_blocks(self, rows, layouts):
        time.sleep(1.0)
        return blocks(self, rows, layouts)

    monkeypatch.setattr(trainer._Compiled, "blocks", slow_blocks)
    slow = train_bundle(MLP, SMALL, t, [1, 2], data)
    assert slow.prepare_seconds >= 1.0 > quick.prepare_seconds
    assert slow.seconds < quick.seconds + 0.5  # training time without the preparation
    # had the 1 s counted, the rate could not pass steps·K per second of it; a busy machine (CI
    # runs two test processes) slows the steps several-fold, never 3× past that bound
    assert slow.steady_steps_per_s > 3 * t.steps * 2 / slow.prepare_seconds
    np.testing.assert_array_equal(slow.val_mse, quick.val_mse)  # the extra evaluation changes nothing


def test_several_log_points_per_compiled_call_give_the_outcome_of_one_call_per_point(tf, two_datasets, monkeypatch):
    """A compiled call trains up to MAX_PIECES log intervals and evaluates the validation set
    and every watched set after each, keeping the best checkpoint itself: curves, probes, the
    best-validation step and the weights are those of one call per log point, bit for bit,
    also where a set spans several blocks; and what it logs is what the weights predict."""
    from tasks.model import pieces, trainer

    monkeypatch.setattr(trainer, "rows_per_call", lambda k, width: 256)  # 300 rows: 2 blocks
    probes = np.stack([product_data(300, 1, 2, 7), product_data(300, 2, 4, 8), product_data(300, 0, 3, 9)])
    data = BundleData(
        [0, 1, 0], [2000], lambda w: two_datasets, two_datasets[:, :300], probes, np.array([[0, 1], [2, -1], [1, 2]])
    )
    t = training(steps=300, log_every=25, checkpoint="best_val", learning_rate=0.3)
    calls, took = [], pieces.CallSizes.took
    monkeypatch.setattr(pieces.CallSizes, "took", lambda self, s: calls.append(self.size) or took(self, 0.0))
    together = train_bundle(MLP, SMALL, t, [1, 2, 3], data)
    assert calls == [1, 2, 4, 8]  # 12 log points: the first call alone (it compiles), then doubling (5 left)
    calls.clear()
    monkeypatch.setattr(pieces, "MAX_PIECES", 1)
    apart = train_bundle(MLP, SMALL, t, [1, 2, 3], data)
    assert calls == [1] * 12
    assert np.isfinite(together.val_mse).all() and np.isnan(together.probe_mse[:, 1, 1]).all()
    for name in ("val_mse", "probe_mse", "train_mse", "selected_step", "log_steps"):
        np.testing.assert_array_equal(getattr(together, name), getattr(apart, name))
    for name, w in together.weights.items():
        np.testing.assert_array_equal(w, apart.weights[name])
    best = together.log_steps[np.argmin(together.val_mse, axis=0)]
    np.testing.assert_array_equal(together.selected_step, best)
    assert (together.selected_step < 300).any()  # a best point before the last: the choice is exercised
    val = two_datasets[[0, 1, 0], :300]
    pred = predict(MLP, SMALL, together.weights, val)
    got = np.mean((pred - val[..., 0] * val[..., 1]) ** 2, axis=1)
    np.testing.assert_allclose(got, together.val_mse.min(axis=0), rtol=1e-5)
    watched, at = probes[[0, 2, 1]], np.argmin(together.val_mse, axis=0)  # column 0 of probe_index
    pred = predict(MLP, SMALL, together.weights, watched)
    got = np.mean((pred - watched[..., 0] * watched[..., 1]) ** 2, axis=1)
    np.testing.assert_allclose(got, together.probe_mse[at, [0, 1, 2], 0], rtol=1e-5)
