"""The extrapolation horizon (tasks.evaluation.horizon): models whose error grows with the
widening in a known way get the horizon the algebra gives, strictly between ladder scales when
it falls between them; the cap and "none" are said as such; the inputs are reproducible; the
config turns it on by default, off, or to the success rule's threshold (pure: no Ray, no TF)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from support import smoke_raw

from tasks.core.errors import ConfigError
from tasks.core.ranges import Ranges, coverage
from tasks.data.sampling import quantile, sample
from tasks.data.targets import PRODUCT
from tasks.evaluation.horizon import describe, horizons, range_at, search, unit_draw
from tasks.evaluation.job import EvalJob, EvalModel, HorizonConfig
from tasks.evaluation.success import REGISTRY as RULES
from tasks.evaluation.success import SuccessConfig
from tasks.study.config import parse_config

LADDER = (1.0, 2.0, 5.0, 10.0, 100.0)
CONFIG = HorizonConfig(0.01, 100.0, 8, 4000, "outward", LADDER)
SUCCESS = SuccessConfig("inputs_scaled", 1e-5, 1000)


def quadratic_error(q: np.ndarray):
    """K models y = a·b + q·(a·b)²: on U(0, s)² their NRMSE is q·s²·√(E u⁴² / E u²²) = 0.6·q·s²,
    so their horizon at tolerance τ on [0, 1] widened to the right is √(τ / (0.6 q))."""

    def predict(x: np.ndarray) -> np.ndarray:
        ab = x[..., 0].astype(np.float64) * x[..., 1]
        return ab + q[:, None] * ab**2

    return predict


UNIT = Ranges.of((0, 1))


def models(k: int, train: Ranges = UNIT) -> tuple[EvalModel, ...]:
    return tuple(EvalModel(f"m-{i}", i, train, (), PRODUCT) for i in range(k))


def job(k: int, config: HorizonConfig = CONFIG, train: Ranges = UNIT) -> EvalJob:
    """An evaluation of k models on `train` that searches their horizon."""
    return EvalJob.of("b-h", models(k, train), None, SUCCESS, "uniform", config)


def test_a_horizon_between_two_ladder_scales_is_found_strictly_between_them():
    expected = np.array([1.3, 3.0, 12.9, 40.0])  # between 1 and 2, 2 and 5, 10 and 100 (twice)
    q = 0.01 / (0.6 * expected**2)
    table = horizons(job(4), np.zeros((4, 2)), quadratic_error(q)).to_pandas()
    assert (table["horizon_status"] == "within").all()
    scale, upper = table["horizon_scale"].to_numpy(), table["horizon_upper"].to_numpy()
    np.testing.assert_allclose(scale, expected, rtol=0.03)  # 4000 draws: the moments within a few %
    for s, u in zip(scale, upper):
        lo, hi = max(x for x in LADDER if x <= s), min(x for x in LADDER if x > s)
        assert lo < s < u <= hi  # strictly inside its ladder bracket
        assert u / s <= (hi / lo) ** (1 / 2**CONFIG.rounds) * (1 + 1e-12)  # each round halves log(u/s)
    assert (table["horizon_nrmse"] <= 0.01).all()
    widened = [Ranges.of((0, s)) for s in scale]
    np.testing.assert_allclose(table["horizon_coverage"], [coverage(Ranges.of((0, 1)), r) for r in widened])
    assert table["horizon_range"].tolist() == [r.label() for r in widened]


def test_the_cap_none_and_a_diverged_model_are_said_as_such():
    q = np.array([0.0, 1.0, 1e-9])  # exact; NRMSE 0.6 on its own range; within at the cap (0.006 at 100)

    def predict(x):
        out = quadratic_error(q)(x[:3])
        return np.concatenate([out, np.full((1, x.shape[1]), np.nan)])  # and a diverged one

    table = horizons(job(4), np.zeros((4, 2)), predict).to_pandas()
    assert table["horizon_status"].tolist() == ["capped", "none", "capped", "none"]
    assert table["horizon_scale"].tolist()[::2] == [100.0, 100.0] and table["horizon_scale"][1::2].isna().all()
    assert table["horizon_upper"].isna().tolist() == [True, False, True, False]
    assert [describe(s, st) for s, st in zip(table["horizon_scale"], table["horizon_status"])] == [
        "≥100",
        "none",
        "≥100",
        "none",
    ]


def test_the_search_costs_the_brackets_reached_and_the_rounds():
    calls = []

    def within(scales):
        calls.append(scales.copy())
        return scales <= 7.0, np.zeros(len(scales))

    found = search(within, 3, CONFIG)
    assert found.predictions == len(calls) == 4 + CONFIG.rounds  # 1, 2, 5 within; 10 outside; 8 rounds
    assert all(len(c) == 3 for c in calls)  # every member in every prediction
    np.testing.assert_allclose(found.lower, 7.0, rtol=(10 / 5) ** (1 / 2**CONFIG.rounds) - 1)
    none = search(lambda s: (np.zeros(len(s), bool), np.full(len(s), np.nan)), 2, CONFIG)
    assert none.predictions == 1 and np.isnan(none.lower).all()  # nothing within: one prediction


def test_the_success_tolerance_is_the_rules_threshold_on_the_same_inputs():
    config = HorizonConfig(None, 100.0, 6, 2000, "outward", LADDER)
    q = np.array([1e-6, 1e-8])  # horizons near 5.7 and 56
    table = horizons(job(2, config), np.zeros((2, 2)), quadratic_error(q)).to_pandas()
    u = unit_draw(2000, 2)
    rule = RULES["inputs_scaled"]
    for (_, row), qi in zip(table.iterrows(), q):
        for scale, inside in ((row["horizon_scale"], True), (row["horizon_upper"], False)):
            x = quantile(u, "uniform", Ranges.of((0, scale))).astype(np.float32).astype(np.float64)
            ab = x[:, 0] * x[:, 1]
            mse = np.mean((qi * ab**2) ** 2)
            assert (mse < rule.nearly_perfect_mse(PRODUCT, x, np.zeros(2), SUCCESS.epsilon)) == inside
    assert table["horizon_tolerance"].tolist() == ["the success rule's threshold"] * 2


def test_horizon_inputs_are_reproducible_and_mapped_onto_every_range():
    assert np.array_equal(unit_draw(500, 2), unit_draw(500, 2))
    assert not np.array_equal(unit_draw(500, 2), unit_draw(501, 2)[:500])
    u = np.random.default_rng(0).random(200_000)
    union = Ranges.of((-6, -2), (2, 6))
    x = quantile(u, "uniform", union)
    assert union.contains(x).all() and abs((x < 0).mean() - 0.5) < 0.01
    reference = sample(np.random.default_rng(1), "uniform", union, 200_000)
    assert abs(np.quantile(x, 0.3) - np.quantile(reference, 0.3)) < 0.05  # the sampler's distribution
    logs = quantile(u, "log_uniform", Ranges.of((1, 100)))
    assert abs(np.median(logs) - 10) < 0.2  # log-uniform: the median is the geometric mean
    assert quantile(np.array([0.0, 1.0]), "uniform", Ranges.of((0, 5))).tolist() == [0.0, 5.0]
    assert range_at(union, 1.0, "outward") == union and range_at(union, 2.0, "outward") == Ranges.of((-12, 12))


def test_real_models_through_evaluation(tf):
    """The hook of tasks.evaluation.evaluate: a bundle's stacked weights, one prediction per round."""
    from tasks.evaluation.evaluate import evaluate_horizons
    from tasks.model import registry

    arch = registry.get("nmu")
    _, params = registry.parse_architecture({"arch": "nmu"}, "x")
    w = np.array([[1.0, 1.0], [1.0, 0.98]], np.float32)  # a·b exactly; a·b^0.98 drifts off
    table = evaluate_horizons(arch, params, {"W": w}, job(2, CONFIG, Ranges.of((1, 2)))).to_pandas()
    assert table["horizon_status"].tolist() == ["capped", "within"]
    assert 1 < table["horizon_scale"][1] < 100
    assert evaluate_horizons(arch, params, {"W": w}, EvalJob.of("b-h", models(2), None, SUCCESS, "uniform")) is None


def config_with(evaluation: dict) -> HorizonConfig | None:
    return parse_config(smoke_raw({f"evaluation.{k}": v for k, v in evaluation.items()})).evaluation.horizon


def test_the_horizon_is_on_by_default_and_configurable():
    default = config_with({})
    assert (default.tolerance, default.max_scale, default.brackets) == (0.01, 10.0, (1.0, 2.0, 10.0))
    assert config_with({"horizon": False}) is None
    assert config_with({"scales": [1]}) is None  # a ladder that never widens: nothing to search
    chosen = config_with({"horizon": {"tolerance": "success", "max_scale": 50, "rounds": 4, "rows": 300}})
    assert (chosen.tolerance, chosen.max_scale, chosen.rounds, chosen.rows) == (None, 50.0, 4, 300)
    assert chosen.brackets == (1.0, 2.0, 10.0, 50.0)
    with pytest.raises(ConfigError, match=r"evaluation.horizon.max_scale.*needs > 1, got 1"):
        config_with({"horizon": {"max_scale": 1}})
    with pytest.raises(ConfigError, match=r"evaluation.horizon.tolerance': expected an NRMSE bound or 'success'"):
        config_with({"horizon": {"tolerance": "loose"}})
    with pytest.raises(ConfigError, match=r"evaluation.horizon.tolerence': unknown key"):
        config_with({"horizon": {"tolerence": 0.1}})


def test_a_horizon_reaching_outside_an_architectures_domain_is_refused():
    raw = smoke_raw({"architectures": [{"arch": "log_mlp", "hidden": [4]}], "train_ranges": [[1, 2]]})
    raw["evaluation"] |= {"widen": "both", "scales": [1, 1.5], "horizon": {"max_scale": 4}}
    with pytest.raises(ConfigError, match=r"cannot be evaluated on the non-positive range \[-0.5,3.5\]"):
        parse_config(raw)
    raw["evaluation"]["horizon"]["max_scale"] = 2.5  # [1.5 ± 1.25]: positive
    assert parse_config(raw).evaluation.horizon.max_scale == 2.5
    assert math.isclose(Ranges.of((1, 2)).widened(2.5, "both").lo, 0.25)


def test_the_horizon_is_part_of_the_evaluations_identity():
    def eval_id(horizon: HorizonConfig | None) -> str:
        return EvalJob.of("b", models(1), None, SUCCESS, "uniform", horizon).eval_id

    looser = HorizonConfig(0.02, 100.0, 8, 4000, "outward", LADDER)
    assert len({eval_id(None), eval_id(CONFIG), eval_id(looser)}) == 3
    assert eval_id(CONFIG) == eval_id(HorizonConfig(0.01, 100.0, 8, 4000, "outward", LADDER))
