"""The architecture zoo: forward math on hand-computed cases, exact representability of a·b,
the published NMU mechanics, and the success criterion on constructed models."""

import math

import numpy as np
import pandas as pd
import pytest

from tasks.core.errors import ConfigError
from tasks.evaluation.intervals import wilson_interval
from tasks.evaluation.metrics import error_metrics, near_perfect_mse
from tasks.model import registry
from tasks.model.inference import predict
from tasks.model.trainer import BundleData, train_bundle
from tasks.report.summaries import solved_at, success
from tasks.study.loading import load_config

f32 = np.float32


def stacked(**weights) -> dict:
    return {k: np.asarray(v, f32)[None] for k, v in weights.items()}


def run(arch: str, params: dict, weights: dict, a, b) -> np.ndarray:
    return predict(registry.get(arch), params, weights, np.stack([np.asarray(a, f32), np.asarray(b, f32)], axis=1))[0]


def test_product_unit_forward_by_hand(tf):
    w = stacked(u=[1, 2], v=[3, -1], w=[0.5, 0], c=[1], d=[0], e=[-1])
    # a=2, b=3: (2 + 6 + 1) · (6 − 3 + 0) + (1 + 0) − 1 = 27
    np.testing.assert_allclose(run("product_unit", {}, w, [2.0], [3.0]), [27.0])


def test_nalu_forward_by_hand(tf):
    w_hat, m_hat, g = np.array([0.5, -0.3]), np.array([0.0, 1.0]), np.array([0.2, 0.1])
    a, b, eps = 2.0, -3.0, 1e-7
    W = np.tanh(w_hat) / (1 + np.exp(-m_hat))
    add = W[0] * a + W[1] * b
    mul = math.exp(W[0] * math.log(abs(a) + eps) + W[1] * math.log(abs(b) + eps))
    gate = 1 / (1 + math.exp(-(g[0] * a + g[1] * b)))
    expected = gate * add + (1 - gate) * mul
    got = run("nalu", {"epsilon": eps}, stacked(W_hat=w_hat, M_hat=m_hat, G=g), [a], [b])
    np.testing.assert_allclose(got, [expected], rtol=1e-5)


def test_nmu_forward_by_hand(tf):
    params = {"sparsity_lambda": 10.0, "sparsity_start": 0, "sparsity_end": 1}
    np.testing.assert_allclose(run("nmu", params, stacked(W=[0.5, 1.0]), [4.0], [3.0]), [(0.5 * 4 + 0.5) * 3])
    np.testing.assert_allclose(run("nmu", params, stacked(W=[0.0, 0.0]), [4.0], [3.0]), [1.0])


def test_mlp_variants_forward_by_hand(tf):
    # one hidden unit, linear: y = 2·h + 1 with h = Σ features
    w = {
        "l0_w": np.ones((1, 3, 1), f32),
        "l0_b": np.zeros((1, 1), f32),
        "l1_w": np.full((1, 1, 1), 2, f32),
        "l1_b": np.ones((1, 1), f32),
    }
    params = {"hidden": [1], "activation": "linear"}
    np.testing.assert_allclose(run("mlp_product_feature", params, w, [2.0], [3.0]), [2 * (2 + 3 + 6) + 1])
    log_w = {"l0_w": np.ones((1, 2, 1), f32), "l0_b": np.zeros((1, 1), f32)}
    np.testing.assert_allclose(
        run("log_mlp", {"hidden": [], "activation": "linear"}, log_w, [2.0], [3.0]), [6.0], rtol=1e-6
    )
    w2 = {
        "l0_w": np.array([[[1.0], [-1.0]]], f32),
        "l0_b": np.zeros((1, 1), f32),
        "l1_w": np.ones((1, 1, 1), f32),
        "l1_b": np.zeros((1, 1), f32),
    }
    for act, fn in [
        ("relu6", lambda x: min(max(x, 0), 6)),
        ("tanh", math.tanh),
        ("softplus", lambda x: math.log1p(math.exp(x))),
    ]:
        got = run("mlp", {"hidden": [1], "activation": act}, w2, [9.0], [1.0])
        np.testing.assert_allclose(got, [fn(8.0)], rtol=1e-5)


@pytest.mark.parametrize(
    ("arch", "weights"),
    [
        ("product_unit", dict(u=[1, 0], v=[0, 1], w=[0, 0], c=[0], d=[0], e=[0])),
        ("nmu", dict(W=[1, 1])),
    ],
)
def test_explicit_units_represent_the_product_exactly(tf, arch, weights):
    params = {"sparsity_lambda": 10.0, "sparsity_start": 0, "sparsity_end": 1} if arch == "nmu" else {}
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-100, 100, 5000).astype(f32), rng.uniform(-100, 100, 5000).astype(f32)
    np.testing.assert_array_equal(run(arch, params, stacked(**weights), a, b), a * b)


def test_success_criterion_on_constructed_models(tf):
    rng = np.random.default_rng(1)
    a, b = rng.uniform(2, 6, 10_000).astype(f32), rng.uniform(2, 6, 10_000).astype(f32)
    y = a * b
    eps = 1e-5
    threshold = near_perfect_mse(a, b, eps)
    params = {"sparsity_lambda": 10.0, "sparsity_start": 0, "sparsity_end": 1}
    exact = error_metrics(y, run("nmu", params, stacked(W=[1, 1]), a, b))["mse"]
    slightly_wrong = error_metrics(y, run("nmu", params, stacked(W=[1, 0.999]), a, b))["mse"]
    assert exact < threshold < slightly_wrong
    # the threshold is the ε-perturbed product's own error: half the perturbation passes, twice fails
    half = error_metrics(y, (a.astype(float) * (1 + eps / 2)) * (b * (1 + eps / 2)))["mse"]
    double = error_metrics(y, (a.astype(float) * (1 + 2 * eps)) * (b * (1 + 2 * eps)))["mse"]
    assert half < threshold < double


def test_nmu_weights_stay_clamped_and_regulariser_ramps(tf):
    from tasks.model.settings import TrainingConfig

    nmu = registry.get("nmu")
    params = {"sparsity_lambda": 10.0, "sparsity_start": 100, "sparsity_end": 200}
    data = np.random.default_rng(2).uniform(1, 2, (1, 5000, 2)).astype(f32)
    t = TrainingConfig("sgd", 5.0, 64, 50, "mean", 10, 10_000, "last", None)
    out = train_bundle(nmu, params, t, [0, 1, 2], BundleData([0, 0, 0], [5000], lambda w: data))
    assert (out.weights["W"] >= 0).all() and (out.weights["W"] <= 1).all()
    W = {"W": tf.constant([[0.5, 0.9]])}
    reg = [float(nmu.regularizer(params, W, tf.constant(s, tf.float32))[0]) for s in (50.0, 150.0, 250.0)]
    full = 10.0 * np.mean([0.5, 0.1])
    np.testing.assert_allclose(reg, [0.0, full / 2, full], rtol=1e-5)


@pytest.mark.parametrize(
    ("unit", "as_stack"),
    [
        ({"arch": "nmu", "sparsity_start": 20, "sparsity_end": 40}, {"layers": ["nmu"]}),
        ({"arch": "nalu"}, {"layers": ["nalu"], "init": "glorot"}),
        ({"arch": "nalu", "init": "stable_nalu"}, {"layers": ["nalu"]}),
    ],
)
def test_two_input_units_are_one_layer_stacks(tf, unit, as_stack):
    """nmu and nalu run the stack's code: from the same seeds they train bit for bit like the
    one-layer stack, their weights under the layer's names with the output axis dropped."""
    from tasks.model.settings import TrainingConfig

    data = np.random.default_rng(3).uniform(1, 2, (1, 2048, 2)).astype(f32)
    t = TrainingConfig("adam", 0.05, 64, 60, "mean", 20, 2048, "last", None)
    runs = []
    for raw in (unit, {"arch": "stack", "sparsity_start": 20, "sparsity_end": 40, **as_stack}):
        arch, params = registry.parse_architecture(raw, "a")
        runs.append(train_bundle(registry.get(arch), params, t, [5, 6], BundleData([0, 0], [2048], lambda w: data)))
    alone, stacked_ = runs
    assert set(alone.weights) == {k.removeprefix("0_") for k in stacked_.weights}
    for name, w in alone.weights.items():
        assert w.shape == (2, 2)
        np.testing.assert_array_equal(w, stacked_.weights[f"0_{name}"][..., 0])
    np.testing.assert_array_equal(alone.val_mse, stacked_.val_mse)


def test_init_is_a_parameter_recorded_when_not_the_default(tf):
    parse = registry.parse_architecture
    assert parse({"arch": "nalu"}, "a") == parse({"arch": "nalu", "init": "glorot"}, "a") == ("nalu", {"epsilon": 1e-7})
    assert parse({"arch": "nalu", "init": "stable_nalu"}, "a")[1] == {"epsilon": 1e-7, "init": "stable_nalu"}
    assert "init" not in parse({"arch": "stack", "layers": ["nalu"], "init": "stable_nalu"}, "a")[1]
    assert parse({"arch": "nmu"}, "a")[1] == {"sparsity_lambda": 10.0, "sparsity_start": 20_000, "sparsity_end": 35_000}
    with pytest.raises(ConfigError, match=r"a\.init.*of nac_add, nac_mul, nalu layers start; \['nau', 'nmu'\] has"):
        parse({"arch": "stack", "layers": ["nau", "nmu"], "init": "glorot"}, "a")
    with pytest.raises(ConfigError, match="init"):
        parse({"arch": "nmu", "init": "glorot"}, "a")  # the NMU has one init: the key is unknown
    # the two inits of the NAC weights: Glorot's bound √(6 / (I + O)) and stable-nalu's r
    from tasks.model.units.layers import nac_init_range

    for init, bound in (("glorot", math.sqrt(6 / 3)), ("stable_nalu", nac_init_range(2, 1))):
        params = parse({"arch": "nalu", "init": init}, "a")[1]
        w = np.stack([registry.get("nalu").init(params, np.random.default_rng(s), 2)["W_hat"] for s in range(400)])
        assert np.abs(w).max() <= bound < np.abs(w).max() * 1.02


def test_sparsity_errors():
    nmu, nalu = registry.get("nmu"), registry.get("nalu")
    np.testing.assert_allclose(nmu.sparsity_error({}, {"W": np.array([[1.0, 0.0], [0.5, 0.9]])}), [0.0, 0.5])
    big = {"W_hat": np.array([[20.0, 20.0]]), "M_hat": np.array([[20.0, 20.0]]), "G": np.zeros((1, 2))}
    assert nalu.sparsity_error({}, big)[0] < 1e-6
    assert registry.get("mlp").sparsity_error({}, {}) is None


def test_wilson_interval_known_values():
    assert wilson_interval(0, 25) == (0.0, pytest.approx(0.1332, abs=1e-4))
    assert wilson_interval(25, 25) == (pytest.approx(0.8668, abs=1e-4), 1.0)
    lo, hi = wilson_interval(10, 20)
    assert (lo, hi) == (pytest.approx(0.2993, abs=1e-4), pytest.approx(0.7007, abs=1e-4))


def test_success_table_and_solved_at():
    metrics = pd.DataFrame(
        {
            "model_id": ["m1", "m2", "m3"],
            "arch_label": ["nmu"] * 3,
            "train_range": ["[1,2]"] * 3,
            "eval_range": ["[2,6]"] * 3,
            "eval_kind": ["square"] * 3,
            "coverage": [0.0] * 3,
            "seed": [0, 1, 2],
            "success": [True, True, False],
            "sparsity_error": [0.0, 0.1, 0.4],
        }
    )
    probes = pd.DataFrame(
        {
            "model_id": ["m1"] * 3 + ["m2"] * 3,
            "eval_range": ["[2,6]"] * 6,
            "step": [1000, 2000, 3000] * 2,
            "mse": [1.0, 1e-12, 1e-13, 1.0, 1.0, 1e-12],
            "threshold": [1e-10] * 6,
        }
    )
    assert solved_at(probes).set_index("model_id")["solved_at"].to_dict() == {"m1": 2000, "m2": 3000}
    (row,) = success(metrics, probes).to_dict("records")
    assert (row["successes"], row["seeds"], row["solved_at_median"]) == (2, 3, 2500)
    assert row["ci_low"] < 2 / 3 < row["ci_high"]
    # over the successful seeds (0 and 0.1, not the failed 0.4), μ of the paper's Beta(2μv, (1 − 2μ)v) as R gives it
    assert row["sparsity_error_mean"] == pytest.approx(0.018278699717, rel=5e-4)


def test_presets_load():
    nalm = load_config("units_iclr_ranges")
    assert len(nalm.seeds) >= 25 and len(nalm.train_ranges) == 7
    assert {a.arch for a in nalm.architectures} == {"mlp", "nalu", "nmu", "product_unit"}
    pairs = {(tr.range.label(), tr.eval[0].label()) for tr in nalm.train_ranges}
    assert ("[-2,2]", "[-6,-2]∪[2,6]") in pairs and ("[10,20]", "[20,40]") in pairs
    assert nalm.training.checkpoint == "best_val" and nalm.training.steps == 50_000
    zoo = load_config("zoo")
    assert {a.arch for a in zoo.architectures} == set(registry.shipped_names())


def test_nmu_schedule_is_validated(write_config):
    path = write_config({"architectures": [{"arch": "nmu", "sparsity_start": 10, "sparsity_end": 5}]})
    with pytest.raises(ConfigError, match="sparsity_start"):
        load_config(path)


def test_evaluation_core_runs_without_ray_or_storage(tf):
    """Pure core: weights and test rows in, tables out — an exact NMU scores zero error everywhere."""
    from tasks.evaluation.evaluate import evaluate_models
    from tasks.study.bundles import make_eval_job
    from tasks.study.plan import make_plan

    config = load_config("smoke")
    plan = make_plan(config)
    models = tuple(plan.models[:2])
    job = make_eval_job("b-test", models, config)
    rng = np.random.default_rng(0)
    test_sets = {}
    for e in models[0].evals + models[1].evals:
        a, b = rng.uniform(e.ranges.lo, e.ranges.hi, (2, 500)).astype(f32)
        test_sets[e.dataset_id] = np.stack([a, b], axis=1)  # inputs [n, N], as jobs.evaluate reads them
    params = {"sparsity_lambda": 10.0, "sparsity_start": 0, "sparsity_end": 1}
    metrics, diagonal = evaluate_models(registry.get("nmu"), params, {"W": np.ones((2, 2), f32)}, job, test_sets)
    m = metrics.to_pandas()
    assert len(m) == 2 * (len(models[0].evals) + len(config.evaluation.diagonal.segments))
    assert (m.loc[m["eval_kind"] == "square", "rmse"] == 0).all()  # a·b of float32 inputs, exactly
    assert m["success"].all() and (m["sparsity_error"] == 0).all()
    assert diagonal.num_rows == 2 * config.evaluation.diagonal.points
