"""A study judged under several success rules: the Primer's relative rule at ε = 1e-5 and at
1e-4 as named rules, `evaluation.success.also` adding a success column per further rule (the
study's own `success` column and ids untouched), the success table and report showing the rate
under each, and saying why the Primer's ε is undetermined."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasks.core.errors import ConfigError
from tasks.core.ranges import Ranges
from tasks.data.targets import PRODUCT
from tasks.evaluation.evaluate import evaluate_models
from tasks.evaluation.job import DiagonalConfig, EvalJob, EvalModel, EvalRange
from tasks.evaluation.success import REGISTRY as RULES
from tasks.evaluation.success import SuccessConfig
from tasks.model import registry
from tasks.report.summaries import rates_by_rule, success

LOW, HIGH = "primer2022_eps1e-5", "primer2022_eps1e-4"


def test_the_primer_rules_fix_their_epsilon_and_draw_as_the_primer_rule():
    r = Ranges.of((2, 6))
    for name, eps in ((LOW, 1e-5), (HIGH, 1e-4)):
        assert RULES[name].epsilon == eps
        fixed = RULES[name].threshold(PRODUCT, r, "uniform", SuccessConfig(name, eps, 50_000), None, None)
        plain = RULES["primer2022"].threshold(
            PRODUCT, r, "uniform", SuccessConfig("primer2022", eps, 50_000), None, None
        )
        assert fixed == plain  # the same draws: equal ε, equal threshold
    low = RULES[LOW].threshold(PRODUCT, r, "uniform", SuccessConfig(LOW, 1e-5, 50_000), None, None)
    high = RULES[HIGH].threshold(PRODUCT, r, "uniform", SuccessConfig(HIGH, 1e-4, 50_000), None, None)
    assert high / low == pytest.approx(100, rel=0.01)  # MSE of (1 − ε)² − 1 ≈ −2ε: ε² apart


def test_also_is_parsed_checked_and_named_in_ids_only_when_given(write_config):
    from tasks.study.loading import load_config

    def success_of(value):
        return load_config(write_config({"evaluation.success": value})).evaluation.success

    both = success_of({"rule": LOW, "also": [HIGH, "inputs_scaled"]})
    assert (both.rule, both.epsilon, both.also) == (LOW, 1e-5, (HIGH, "inputs_scaled"))
    assert [(n, c.epsilon) for n, c in both.extra()] == [(HIGH, 1e-4), ("inputs_scaled", 1e-5)]
    assert "also" not in success_of({"rule": "primer2022"}).identity()  # existing evaluations keep their ids
    assert both.identity()["also"] == [HIGH, "inputs_scaled"]
    bad = [
        ({"rule": LOW, "epsilon": 1e-4}, "fixes ε = 1e-05"),
        ({"rule": LOW, "also": [LOW]}, "not the main rule"),
        ({"rule": LOW, "also": [HIGH, HIGH]}, "each rule once"),
        ({"rule": LOW, "also": ["nope"]}, "nope"),
    ]
    for value, message in bad:
        with pytest.raises(ConfigError, match=message):
            success_of(value)
    subset = {"target": {"name": "subset", "input_size": 10}, "evaluation.diagonal": False}
    subset |= {"architectures": [{"arch": "mlp"}], "evaluation.success": {"also": [HIGH]}}
    with pytest.raises(ConfigError, match=r"also\[0\].*single-module"):
        load_config(write_config(subset))


def _evaluate(success_config: SuccessConfig):
    """Three hand-set 2-input models (exact, near, poor) on [1,2] → [2,6] and the diagonal."""
    arch, params = registry.get("stack"), registry.parse_architecture({"arch": "stack", "layers": ["nmu"]}, "x")[1]
    w = np.array([[[1.0], [1.0]], [[0.99995], [1.0]], [[0.9], [1.0]]], np.float32)  # [K, 2, 1]
    rng = np.random.default_rng(1)
    ranges = {"in": Ranges.of((1, 2)), "far": Ranges.of((2, 6))}
    test_sets = {"in": rng.uniform(1, 2, (2000, 2)), "far": rng.uniform(2, 6, (2000, 2))}
    evals = tuple(EvalRange("square", r, name, 1.0 if name == "in" else 0.0) for name, r in ranges.items())
    models = tuple(EvalModel(f"m{k}", k, ranges["in"], evals, PRODUCT) for k in range(3))
    diagonal = DiagonalConfig(0.0, 6.0, 60, (Ranges.of((0, 2)), Ranges.of((2, 6))))
    job = EvalJob.of("b", models, diagonal, success_config, "uniform")
    return job, evaluate_models(arch, params, {"0_W": w}, job, test_sets)[0].to_pandas()


def test_each_further_rule_adds_its_columns_and_leaves_the_study_rule_alone():
    job_one, one = _evaluate(SuccessConfig(LOW, 1e-5, 20_000))
    job_both, both = _evaluate(SuccessConfig(LOW, 1e-5, 20_000, also=(HIGH,)))
    _, high = _evaluate(SuccessConfig(HIGH, 1e-4, 20_000))
    assert job_one.eval_id != job_both.eval_id
    pd.testing.assert_frame_equal(both[one.columns], one)  # the study's own columns as before
    assert set(both.columns) - set(one.columns) == {f"threshold_{HIGH}", f"success_{HIGH}"}
    np.testing.assert_array_equal(both[f"threshold_{HIGH}"], high["threshold"])  # as if it were the study's rule
    np.testing.assert_array_equal(both[f"success_{HIGH}"], high["success"])
    far = both[(both["eval_kind"] == "square") & (both["eval_range"] == "[2,6]")]
    assert far["success"].tolist() == [True, False, False] and far[f"success_{HIGH}"].tolist() == [True, True, False]


def test_the_success_table_and_report_show_the_rate_under_each_rule():
    from tasks.report.page import further_rules_notes

    metrics = pd.DataFrame(
        {
            "model_id": [f"m{i}" for i in range(4)],
            "arch_label": "nmu",
            "seed": range(4),
            "train_range": "[1,2]",
            "eval_kind": "square",
            "eval_range": "[2,6]",
            "coverage": 0.0,
            "success": [True, False, False, False],
            f"success_{HIGH}": [True, True, True, False],
            "sparsity_error": 0.0,
        }
    )
    row = success(metrics).iloc[0]
    assert (row["successes"], row[f"successes_{HIGH}"], row[f"success_rate_{HIGH}"]) == (1, 3, 0.75)
    assert row[f"ci_low_{HIGH}"] == pytest.approx(0.3006, abs=1e-4)  # Wilson, 3 of 4
    table = rates_by_rule(success(metrics), LOW, [HIGH])
    assert table.iloc[0][LOW] == "1/4 [0.05, 0.70]" and table.iloc[0][HIGH] == "3/4 [0.30, 0.95]"
    notes = " ".join(further_rules_notes({"rule": LOW, "epsilon": 1e-5, "also": [HIGH]}))
    for cited in (
        "exp_setups.csv",
        "generate_exp_thresholds.r",
        "1e-4_eps_thrs_sltr.csv",
        "eps_thrs_sltr.csv",
        "53a51cc6",
    ):
        assert cited in notes
    assert further_rules_notes({"rule": "primer2022", "epsilon": 1e-5}) == []
