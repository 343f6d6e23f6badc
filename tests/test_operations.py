"""The operation registry: y of every operation in numpy and TensorFlow, its diagonal, the
success rules written once for every operation (and exactly today's for a·b), the divisor
kept away from 0, the subset task's layouts, ids, and the report's operation × architecture
table. End-to-end studies: tests/test_plugins.py (a plugin's operation beside a·b and a/b)
and tests/test_fidelity.py (the ICLR task on other operations)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from support import DELETE, smoke_raw

from tasks.core.errors import ConfigError
from tasks.core.ids import seed_from
from tasks.core.ranges import Ranges
from tasks.data import operations
from tasks.data.targets import PRODUCT, parse_target, parse_targets
from tasks.evaluation.success import REGISTRY as RULES
from tasks.report.summaries import operation_cells, operation_table
from tasks.study.config import parse_config
from tasks.study.loading import load_config
from tasks.study.plan import make_plan
from tasks.study.render import config_yaml

f32, f64 = np.float32, np.float64
EPS = 1e-3


def inputs(*ops: str):
    return {op: parse_target({"operation": op}, "target") for op in ops}


def random_inputs(n: int = 500, width: int = 2, lo: float = -6.0, hi: float = 6.0) -> np.ndarray:
    return np.random.default_rng(5).uniform(lo, hi, (n, width)).astype(f32)


def test_product_rules_give_exactly_todays_thresholds():
    """The formulas of the rules before the registry, written out: a·b gives them bit for bit."""
    x = random_inputs()
    a, b = x[:, 0].astype(f64), x[:, 1].astype(f64)
    layout = PRODUCT.target.layout(PRODUCT.params, 0)
    exact = a * b
    scaled = float(np.mean((exact * (1 + EPS) ** 2 - exact) ** 2))
    primer = float(np.mean((((1 - EPS) ** 2 - 1) * a * b) ** 2))
    masks = np.eye(2)  # the ideal first layer, perturbed: 1 − ε on its own input, ε elsewhere
    perturbed = np.where(masks > 0, 1 - EPS, EPS)
    x64 = x.astype(f64)
    near = (x64 @ perturbed[0]) * (x64 @ perturbed[1])
    iclr = float(np.mean((near - (x64 @ masks[0]) * (x64 @ masks[1])) ** 2))
    assert RULES["inputs_scaled"].nearly_perfect_mse(PRODUCT, x, layout, EPS) == scaled
    assert RULES["primer2022"].nearly_perfect_mse(PRODUCT, x, layout, EPS) == primer
    assert RULES["iclr2020"].nearly_perfect_mse(PRODUCT, x, layout, EPS) == iclr
    subset = parse_target({"name": "subset", "input_size": 10}, "t")
    xs = random_inputs(width=10, lo=1, hi=2)
    masks = subset.target.layout(subset.params, 3).astype(f64)
    sa, sb = xs.astype(f64) @ masks[0], xs.astype(f64) @ masks[1]
    perturbed = np.where(masks > 0, 1 - EPS, EPS)
    near = (xs.astype(f64) @ perturbed[0]) * (xs.astype(f64) @ perturbed[1])
    assert RULES["iclr2020"].nearly_perfect_mse(subset, xs, masks, EPS) == float(np.mean((near - sa * sb) ** 2))
    assert RULES["inputs_scaled"].nearly_perfect_mse(subset, xs, masks, EPS) == float(
        np.mean((sa * sb * (1 + EPS) ** 2 - sa * sb) ** 2)
    )
    # y as the shards store it and as the evaluation and the diagonal have always computed it
    assert np.array_equal(PRODUCT.target.stored_y(PRODUCT.params, x), x[:, 0] * x[:, 1])
    grid = np.linspace(0.005, 9.995, 1000)
    _, diagonal_y = PRODUCT.target.diagonal(PRODUCT.params, grid)
    assert np.array_equal(diagonal_y, grid.astype(f32).astype(f64) ** 2)


def test_every_operation_by_hand(tf):
    a, b = np.array([3.0, -2.0, 0.5], f32), np.array([2.0, 4.0, 0.25], f32)
    expected = {
        "mul": a * b,
        "div": a / b,
        "add": a + b,
        "sub": a - b,
        "square": a * a,
        "root": np.sqrt(np.abs(a)),
    }
    for name, y in expected.items():
        op = operations.get(name)
        z = [np.abs(a)] if name == "root" else [a, b][: op.arity]
        assert np.array_equal(op.y(z), y), name
        assert op.y(z).dtype == f32  # a shard's y: rounded as the trainer's float32 arithmetic
        np.testing.assert_allclose(op.y_tf([tf.constant(v) for v in z]).numpy(), y, rtol=1e-6)
    assert operations.get("mul3").y([a, b, a]).tolist() == (a * b * a).tolist()
    diagonal = {op: operations.get(op).diagonal(np.array([2.0, 3.0])) for op in ("mul", "div", "add", "sub", "square")}
    assert {k: v.tolist() for k, v in diagonal.items()} == {
        "mul": [4.0, 9.0],
        "div": [1.0, 1.0],
        "add": [4.0, 6.0],
        "sub": [0.0, 0.0],
        "square": [4.0, 9.0],
    }
    symbols = [(operations.get(o).symbol, operations.get(o).diagonal_symbol) for o in ("mul", "div", "add", "sub")]
    assert symbols == [("a·b", "x²"), ("a/b", "1"), ("a+b", "2x"), ("a−b", "0")]


def test_the_rules_hold_for_every_operation_as_the_papers_write_them():
    """inputs_scaled moves each operand by its relative ε in the direction that moves y; the
    Primer's formulas are those of its generate_exp_thresholds.r; ICLR's is the ideal first
    layer perturbed, the operation exact (function_task_static_mse_expectation.r)."""
    t = inputs("div", "add", "sub", "square")
    x = random_inputs(lo=1, hi=3)
    a, b = x[:, 0].astype(f64), x[:, 1].astype(f64)
    layout = PRODUCT.target.layout(PRODUCT.params, 0)

    def mse(rule: str, op: str) -> float:
        return RULES[rule].nearly_perfect_mse(t[op], x, layout, EPS)

    assert mse("inputs_scaled", "div") == pytest.approx(np.mean((a / b * ((1 + EPS) / (1 - EPS) - 1)) ** 2))
    assert mse("inputs_scaled", "sub") == pytest.approx(np.mean((EPS * (a + b)) ** 2))
    assert mse("primer2022", "div") == pytest.approx(np.mean((a / b * ((1 - EPS) / (1 + EPS) - 1)) ** 2))
    assert mse("primer2022", "add") == pytest.approx(np.mean((EPS * (np.abs(a) + np.abs(b))) ** 2))
    assert mse("primer2022", "sub") == mse("primer2022", "add")  # the Primer's −ε·Σ|x| for both
    # a²: b is an input no operand reads; the Primer scales a product by 1 − ε·|x| for each
    near = (1 - EPS) ** 2 * a * a * (1 - EPS * np.abs(b))
    assert mse("primer2022", "square") == pytest.approx(np.mean((near - a * a) ** 2))
    wa, wb = (1 - EPS) * a + EPS * b, EPS * a + (1 - EPS) * b
    assert mse("iclr2020", "div") == pytest.approx(np.mean((wa / wb - a / b) ** 2))
    assert mse("iclr2020", "add") == pytest.approx(np.mean((wa + wb - a - b) ** 2))
    assert mse("iclr2020", "square") == pytest.approx(np.mean((wa * wa - a * a) ** 2))  # b leaks in through ε
    assert all(mse(r, o) > 0 for r in RULES for o in t)  # every rule can be passed and failed


def test_subset_layouts_for_every_operation():
    """Two subsets as before the registry (stable-nalu builds them the same for every
    operation); as many as an operation reads when it reads more."""
    two = parse_target({"name": "subset", "input_size": 20, "operation": "square"}, "t")
    size, overlap, used = two.target.sizes(two.params)
    for seed in range(5):
        masks = two.target.layout(two.params, seed)
        rng = np.random.default_rng(seed_from("subset-offset", seed))
        offset = int(rng.integers(0, 20 - used + 1))
        assert masks.shape == (2, 20) and int(np.argmax(masks[0])) == offset
        assert int(np.argmax(masks[1])) == offset + size - overlap
    x = np.arange(1, 21, dtype=f32)[None]
    masks = two.target.layout(two.params, 0)
    assert two.target.y(two.params, x, masks).tolist() == [float(x[0] @ masks[0]) ** 2]  # reads the first only
    three = parse_target({"name": "subset", "input_size": 20, "operation": "mul3"}, "t")
    masks = three.target.layout(three.params, 1)
    sums = [float(x[0] @ m) for m in masks]
    assert masks.shape == (3, 20) and three.target.y(three.params, x, masks).tolist() == [np.prod(sums)]
    assert three.target.operand_ranges(three.params, Ranges.of((1, 2)))[2] == Ranges.of((5, 10))
    with pytest.raises(ConfigError, match="3 subsets need 11 inputs, only 10"):
        parse_target({"name": "subset", "input_size": 10, "subset_ratio": 0.5, "operation": "mul3"}, "t")


def test_division_keeps_its_divisor_away_from_zero():
    div = operations.get("div")
    assert div.domain_problem([Ranges.of((1, 2)), Ranges.of((2, 6))]) is None
    assert div.domain_problem([Ranges.of((0, 1))] * 2) is not None  # reaches 0
    assert div.domain_problem([Ranges.of((0.04, 1))] * 2) is not None  # within 5% of its largest value
    assert div.domain_problem([Ranges.of((0.05, 1))] * 2) is None
    assert div.domain_problem([Ranges.of((-6, -2), (2, 6))] * 2) is None  # a union with a gap at 0
    problem = div.domain_problem([Ranges.of((-1, 1))] * 2)
    assert problem.startswith("div needs its divisor b away from 0, but b ranges over [-1,1]") and "\n" not in problem
    # the subset task's divisor is a sum: U[-2,2] inputs give sums that reach 0
    subset = {"target": {"name": "subset", "input_size": 10, "operation": "div"}, "evaluation.diagonal": DELETE}
    subset |= {"architectures": [{"arch": "stack", "layers": ["nau", "nmu"]}], "evaluation.scales": []}
    with pytest.raises(ConfigError, match="divisor b away from 0, but b ranges over"):
        parse_config(smoke_raw({**subset, "train_ranges": [[-2, 2]]}))
    config = parse_config(smoke_raw({**subset, "train_ranges": [{"range": [1, 2], "eval": [[2, 6]]}]}))
    assert [t.operation.name for t in config.targets] == ["div"]
    # a config that does not set the diagonal gets none where it would reach the divisor's 0
    plain = smoke_raw({"target": {"operation": ["mul", "div"]}, "evaluation.diagonal": DELETE})
    plain["train_ranges"] = [{"range": [1, 2], "eval": [[2, 6]]}]
    assert parse_config(plain).evaluation.diagonal is None
    assert parse_config({**plain, "target": "product"}).evaluation.diagonal is not None


def test_a_study_of_several_operations_plans_each():
    raw = smoke_raw({"target": {"operation": ["mul", "div", "square"]}, "evaluation.diagonal": {"lo": 1, "hi": 10}})
    raw["train_ranges"] = [{"range": [1, 2], "eval": [[2, 6]]}]
    config = parse_config(raw)
    assert parse_config(yaml.safe_load(config_yaml(config))) == config  # the stored config reruns it
    plan = make_plan(config)
    assert len(plan.models) == 3 * len(config.seeds) and len({m.model_id for m in plan.models}) == len(plan.models)
    rows = pd.DataFrame([m.row() for m in plan.models])
    assert set(rows["arch_label"]) == {"mlp(activation=relu hidden=16) on " + s for s in ("a·b", "a/b", "a²")}
    assert set(rows["unit_label"]) == {"mlp(activation=relu hidden=16)"}
    product = make_plan(parse_config({**raw, "target": "product"}))
    assert len(plan.datasets) == 3 * len(product.datasets)  # inputs store y: each operation has its datasets
    assert {m.model_id for m in product.models} <= {m.model_id for m in plan.models}  # a·b keeps its ids
    assert {s.to_json()["target"] for s in product.datasets.values()} == {"product"}
    subset = smoke_raw({"target": {"name": "subset", "input_size": 10}, "evaluation.diagonal": DELETE})
    subset |= {"architectures": [{"arch": "stack", "layers": ["nau", "nmu"]}], "train_ranges": [[1, 2]]}
    one = make_plan(parse_config(subset))
    subset["target"] = {**subset["target"], "operation": ["mul", "add"]}
    both = make_plan(parse_config(subset))
    assert set(both.datasets) == set(one.datasets)  # no y in the shards: the operations share the inputs
    assert {m.model_id for m in one.models} < {m.model_id for m in both.models}  # but not their models
    assert len({m.model_id for m in both.models}) == 2 * len(one.models)


def test_one_operation_cannot_be_two_targets():
    with pytest.raises(ConfigError, match="one operation expected"):
        parse_target({"operation": ["mul", "div"]}, "target")
    assert [t.n_inputs for t in parse_targets({"operation": ["mul3"]}, "t")] == [3]


def test_the_arithmetic_ops_preset():
    config = load_config("arithmetic_ops")
    assert [t.operation.name for t in config.targets] == ["mul", "div", "add", "sub", "square"]
    assert {a.arch for a in config.architectures} >= {"mlp", "nalu", "nmu", "product_unit"}
    assert [tr.range.label() for tr in config.train_ranges] == ["[1,2]"]
    static = load_config("iclr2020_static")
    assert {t.operation.name for t in static.targets} == {"mul", "div", "add", "sub", "square", "root"}
    assert static.target.n_inputs == 100 and static.evaluation.success.rule == "iclr2020"


def test_which_unit_extrapolates_which_operation_table():
    rows = []
    for op, unit, k in [("mul", "nmu", 10), ("div", "nmu", 0), ("mul", "mlp", 1), ("div", "mlp", 3)]:
        for ev, kk in (("[1,2]", 10), ("[2,6]", k)):
            rows.append({"operation": op, "unit_label": unit, "arch_label": f"{unit} on {op}", "train_range": "[1,2]"})
            rows[-1] |= {"eval_range": ev, "successes": kk, "seeds": 10, "success_rate": kk / 10}
            rows[-1] |= {"ci_low": max(0.0, kk / 10 - 0.2), "ci_high": min(1.0, kk / 10 + 0.2)}
    cells = operation_cells(pd.DataFrame(rows), {"mul": "a·b", "div": "a/b"})
    assert len(cells) == 4  # the extrapolation rows only
    table = operation_table(cells).set_index("architecture")
    assert list(table.columns) == ["a·b", "a/b"] and list(table.index) == ["nmu", "mlp"]
    assert table.loc["nmu", "a·b"] == "1.00 [0.80, 1.00] (10/10)" and table.loc["nmu", "a/b"].endswith("(0/10)")
    more = pd.DataFrame([*rows, {**rows[-1], "train_range": "[0,1]", "eval_range": "[1,5]"}])
    columns = operation_table(operation_cells(more, {"mul": "a·b", "div": "a/b"})).columns
    assert "a/b [1,2] → [2,6]" in columns and "a/b [0,1] → [1,5]" in columns  # several pairs: named
