"""The neural-arithmetic benchmarks reproduced: the subset target, stacked units, the papers'
success rules, and published results beside a run's."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from support import DELETE, read_results, write_study

from tasks.core.errors import ConfigError
from tasks.core.ranges import Ranges
from tasks.data.targets import PRODUCT, parse_target
from tasks.evaluation.intervals import beta_stat, gamma_stat, wilson_interval
from tasks.evaluation.success import REGISTRY as RULES
from tasks.evaluation.success import SuccessConfig
from tasks.model import registry
from tasks.model.inference import predict
from tasks.model.settings import TrainingConfig
from tasks.model.trainer import BundleData, init_weights, train_bundle
from tasks.model.units.layers import nac_init_range, nac_weight_variance
from tasks.report.figures import render
from tasks.report.published import compare, comparison_figure, load_published
from tasks.study.loading import load_config
from workflows.run import main

f32 = np.float32
SUBSET = parse_target({"name": "subset", "input_size": 10, "subset_ratio": 0.3, "overlap_ratio": 0.4}, "target")


def test_subset_target_by_hand():
    # size ⌊0.3·10⌋ = 3, overlap ⌊0.4·3⌋ = 1: subsets [o, o+3) and [o+2, o+5), 5 inputs used
    masks = SUBSET.target.layout(SUBSET.params, seed=0)
    offset = int(np.argmax(masks[0]))
    assert 0 <= offset <= 5
    assert masks[0].tolist() == [1.0 if offset <= i < offset + 3 else 0.0 for i in range(10)]
    assert masks[1].tolist() == [1.0 if offset + 2 <= i < offset + 5 else 0.0 for i in range(10)]
    x = np.arange(1, 11, dtype=f32)[None]  # inputs 1..10
    a, b = sum(range(offset + 1, offset + 4)), sum(range(offset + 3, offset + 6))
    assert SUBSET.target.y(SUBSET.params, x, masks).tolist() == [a * b]
    offsets = {int(np.argmax(SUBSET.target.layout(SUBSET.params, s)[0])) for s in range(40)}
    assert len(offsets) > 3  # placed per seed, as stable-nalu does
    paper = parse_target({"name": "subset"}, "t")  # the paper's 100 inputs: subsets of 25 overlapping in 12
    assert paper.target.sizes(paper.params) == (25, 12, 38)


def _np_nac(w_hat, m_hat):
    return np.tanh(w_hat) / (1 + np.exp(-m_hat))


@pytest.mark.parametrize(
    "layers",
    [["nau", "nmu"], ["nac_add", "nac_mul"], ["nalu", "nalu"], ["linear", "linear"], ["relu", "linear"], ["nmu"]],
)
def test_stack_forward_matches_numpy(tf, layers):
    arch = registry.get("stack")
    _, params = registry.parse_architecture({"arch": "stack", "layers": layers}, "a")
    n = 2 if layers == ["nmu"] else 6
    w = init_weights(arch, params, [3], n)
    x = np.random.default_rng(0).uniform(0.5, 2, (40, n)).astype(f32)
    eps = params["epsilon"]

    def layer(name: str, i: int, h: np.ndarray) -> np.ndarray:
        p = {k.split("_", 1)[1]: v[0].astype(np.float64) for k, v in w.items() if k.startswith(f"{i}_")}
        if name == "nau":
            return h @ np.clip(p["W"], -1, 1)
        if name == "nmu":
            return np.prod(p["W"][None] * h[:, :, None] + 1 - p["W"][None], axis=1)
        if name in ("nac_add", "nac_mul", "nalu"):
            W = _np_nac(p["W_hat"], p["M_hat"])
            add, mul = h @ W, np.exp(np.log(np.abs(h) + eps) @ W)
            if name == "nalu":
                g = 1 / (1 + np.exp(-(h @ p["G"])))
                return g * add + (1 - g) * mul
            return add if name == "nac_add" else mul
        out = h @ p["W"] + p["b"]
        return np.maximum(out, 0) if name == "relu" else out

    h = x.astype(np.float64)
    for i, name in enumerate(layers):
        h = layer(name, i, h)
    np.testing.assert_allclose(predict(arch, params, w, x)[0], h[:, 0], rtol=2e-5, atol=1e-5)


def test_stable_nalu_initialisations():
    assert nac_weight_variance(nac_init_range(100, 2)) * 102 == pytest.approx(2, rel=1e-9)
    arch = registry.get("stack")
    _, params = registry.parse_architecture({"arch": "stack", "layers": ["nau", "nmu"]}, "a")
    w = init_weights(arch, params, list(range(50)), 100)
    assert np.abs(w["0_W"]).max() <= math.sqrt(3) * math.sqrt(2 / 102) + 1e-7  # NAU: U[±√3·√(2/(I+O))]
    assert w["1_W"].min() >= 0.25 and w["1_W"].max() <= 0.75  # NMU: U[0.25, 0.75]


def test_stack_in_a_bundle_equals_training_alone(tf):
    """Per-model subset layouts and the two-layer regulariser keep members independent."""
    arch = registry.get("stack")
    _, params = registry.parse_architecture(
        {"arch": "stack", "layers": ["nau", "nmu"], "sparsity_start": 20, "sparsity_end": 40}, "a"
    )
    x = np.random.default_rng(1).uniform(1, 2, (1, 3000, 10)).astype(f32)
    t = TrainingConfig("adam", 0.01, 32, 60, "mean", 20, 10_000, "last", None, 1e-8)
    seeds = [4, 7, 9]
    bundle = train_bundle(arch, params, t, seeds, BundleData([0, 0, 0], [3000], lambda w: x, x[:, :200], target=SUBSET))
    alone = train_bundle(arch, params, t, [7], BundleData([0], [3000], lambda w: x, x[:, :200], target=SUBSET))
    for name, value in bundle.weights.items():
        np.testing.assert_allclose(value[1], alone.weights[name][0], rtol=2e-5, atol=2e-6)
    assert (bundle.weights["1_W"] >= 0).all() and (np.abs(bundle.weights["0_W"]) <= 1).all()  # clamped


def test_success_thresholds_by_hand():
    eps = 1e-2
    x = np.array([[2.0, 3.0], [1.0, 4.0]], f32)
    y = np.array([6.0, 4.0])
    layout = PRODUCT.target.layout(PRODUCT.params, 0)
    scaled = RULES["inputs_scaled"].nearly_perfect_mse(PRODUCT, x, layout, eps)
    assert scaled == pytest.approx(np.mean((y * ((1 + eps) ** 2 - 1)) ** 2))
    primer = RULES["primer2022"].nearly_perfect_mse(PRODUCT, x, layout, eps)
    assert primer == pytest.approx(np.mean((y * ((1 - eps) ** 2 - 1)) ** 2))
    # ICLR 2020: the ideal first layer with 1 − ε on its inputs and ε elsewhere
    iclr = RULES["iclr2020"].nearly_perfect_mse(PRODUCT, x, layout, eps)
    x64 = x.astype(np.float64)
    a_eps = (1 - eps) * x64[:, 0] + eps * x64[:, 1]
    b_eps = eps * x64[:, 0] + (1 - eps) * x64[:, 1]
    assert iclr == pytest.approx(np.mean((a_eps * b_eps - y) ** 2))
    # on the subset task the perturbation reaches every input
    xs = np.arange(1, 11, dtype=f32)[None]
    masks = SUBSET.target.layout(SUBSET.params, 0).astype(np.float64)
    v = xs[0].astype(np.float64)
    a, b = v @ masks[0], v @ masks[1]
    near = (v @ np.where(masks[0] > 0, 1 - eps, eps)) * (v @ np.where(masks[1] > 0, 1 - eps, eps))
    assert RULES["iclr2020"].nearly_perfect_mse(SUBSET, xs, masks, eps) == pytest.approx((near - a * b) ** 2)


def test_monte_carlo_threshold_matches_the_closed_form():
    """Primer: ((1 − ε)² − 1)²·E[a²]·E[b²], E[x²] = (lo² + lo·hi + hi²)/3 for U[lo, hi]."""
    rule = RULES["primer2022"]
    got = rule.threshold(PRODUCT, Ranges.of((2, 6)), "uniform", SuccessConfig("primer2022", 1e-5, 400_000), None, None)
    ex2 = (4 + 12 + 36) / 3
    assert got == pytest.approx(((1 - 1e-5) ** 2 - 1) ** 2 * ex2**2, rel=0.01)
    again = rule.threshold(
        PRODUCT, Ranges.of((2, 6)), "uniform", SuccessConfig("primer2022", 1e-5, 400_000), None, None
    )
    assert got == again  # a fixed generator: the same threshold everywhere


def test_paper_intervals_over_successful_seeds():
    rng = np.random.default_rng(3)
    steps = rng.gamma(20, 75_000, 60)
    mean, lo, hi = gamma_stat(steps)
    assert lo < mean < hi and mean == pytest.approx(steps.mean(), rel=0.03)  # R's fit stops near the mean
    assert hi - lo == pytest.approx(2 * 1.96 * steps.std() / math.sqrt(60), rel=0.25)
    errors = rng.beta(2, 4000, 40) / 2
    mu, lo, hi = beta_stat(errors)
    assert lo < mu < hi and mu == pytest.approx(errors.mean() / 2, rel=0.1)  # Beta(2μv, (1 − 2μ)v): mean 2μ


def test_config_checks_for_targets_units_and_rules(write_config):
    subset = {"target": {"name": "subset", "input_size": 10}, "evaluation.diagonal": DELETE}
    with pytest.raises(ConfigError, match="takes 2 inputs, got 10"):
        load_config(write_config({**subset, "architectures": [{"arch": "nmu"}]}))
    with pytest.raises(ConfigError, match="primer2022"):
        load_config(
            write_config(
                {
                    **subset,
                    "architectures": [{"arch": "stack", "layers": ["nau", "nmu"]}],
                    "evaluation.success": {"rule": "primer2022"},
                }
            )
        )
    with pytest.raises(ConfigError, match="diagonal"):
        load_config(
            write_config({**subset, "architectures": [{"arch": "mlp"}], "evaluation.diagonal": {"lo": 0, "hi": 1}})
        )
    iclr = load_config("iclr2020_mul_range")
    assert iclr.target.n_inputs == 100 and iclr.training.steps == 5_000_000 and len(iclr.seeds) == 50
    assert iclr.evaluation.success.rule == "iclr2020" and iclr.reproduces == "madsen2020"
    primer = load_config("primer2022_mul")
    assert len(primer.train_ranges) == 9 and primer.evaluation.success.rule == "primer2022_eps1e-5"
    assert primer.evaluation.success.epsilon == 1e-5 and primer.evaluation.success.also == ("primer2022_eps1e-4",)


def success_row(arch: str, pair: tuple[str, str], k: int, n: int = 10, **paper_stats) -> dict:
    """One row of a run's success table; solved-at and sparsity statistics NaN unless given."""
    stats = {f"{s}_{m}": np.nan for s in ("solved_at", "sparsity_error") for m in ("mean", "low", "high")}
    lo, hi = wilson_interval(k, n)
    row = {"arch_label": arch, "train_range": pair[0], "eval_range": pair[1], "seeds": n, "successes": k}
    return row | {"success_rate": k / n, "ci_low": lo, "ci_high": hi} | stats | paper_stats


NMU = "nau→nmu λ=10@1000000–2000000"


def test_published_numbers_beside_a_run_with_a_verdict_by_test():
    nmu_stats = {"solved_at_mean": 1.55e6, "solved_at_low": 1.5e6, "solved_at_high": 1.6e6}
    nmu_stats |= {"sparsity_error_mean": 2e-7, "sparsity_error_low": 1.8e-7, "sparsity_error_high": 2.2e-7}
    successes = pd.DataFrame(
        [
            success_row(NMU, ("[1,2]", "[2,6]"), 40, 40, **nmu_stats),  # 40/40 beside 98/100: enough seeds
            success_row(NMU, ("[1,2]", "[1,2]"), 5),  # the training range itself: left out
            success_row("nac_add→nac_mul", ("[1,2]", "[2,6]"), 10),  # 10/10 beside 31/100 and 12/49: differs
            success_row("nac_add→nac_mul", ("[10,20]", "[20,40]"), 4),  # 4/10 beside 21/50: underpowered
            success_row("nac_add→nac_mul", ("[3,4]", "[4,8]"), 0),  # a pair the paper never ran
        ]
    )
    keys = {NMU: "nau→nmu", "nac_add→nac_mul": "nac_add→nac_mul"}
    result = compare(successes, keys, "madsen2020")
    table = result.table.set_index(["model", "range pair", "published"]).sort_index()
    both = table.loc[(NMU, "[1,2] → [2,6]")]  # two published sources for this pair: both shown
    assert set(both.index) == {"table, 100 seeds", "figure, 50 seeds"}
    table_row = both.loc["table, 100 seeds"]
    assert table_row["success verdict"].startswith("consistent") and table_row["published success"].startswith("98/100")
    assert table_row["solved at verdict"].startswith("consistent")  # 1.55e6 [1.5, 1.6] vs 1.52e6 [1.46, 1.57]
    assert table_row["sparsity verdict"].startswith("differs (lower")  # 2e-7 vs 4.2e-7 [3.9e-7, 4.5e-7]
    assert "sparsity" in table_row["Holm"]
    nac = table.loc[("nac_add→nac_mul", "[1,2] → [2,6]")]
    assert nac.loc["table, 100 seeds", "success verdict"].startswith("differs (higher")
    assert nac.loc["figure, 49 seeds", "success verdict"].startswith("differs (higher")
    weak = table.loc[("nac_add→nac_mul", "[10,20] → [20,40]", "figure, 50 seeds")]
    assert weak["success verdict"].startswith("underpowered") and "against the published 50" in weak["success verdict"]
    never = table.loc[("nac_add→nac_mul", "[3,4] → [4,8]", "not published")]
    assert never["success verdict"] == "not published" and "figure only" not in never["source"]
    assert "[1,2] → [1,2]" not in set(result.table["range pair"])
    assert "after Holm's step-down correction" in result.note
    assert render(comparison_figure(result))["png"].startswith(b"\x89PNG")
    assert set(load_published("mistry2022")["model"]) == {"*"}  # the Primer publishes figures only


def test_subset_study_end_to_end_with_published_comparison(ray_session, tmp_path):
    config = write_study(
        tmp_path,
        {
            "target": {"name": "subset", "input_size": 10, "operation": ["mul", "square"]},
            "evaluation.diagonal": DELETE,  # a = b = x needs operands that are inputs
            "reproduces": "madsen2020",
            "deviations": ["a tiny version of the protocol, for the test suite"],
            "train_ranges": [{"range": [1, 2], "eval": [[2, 6]]}],
            "architectures": [{"arch": "stack", "layers": ["nau", "nmu"], "sparsity_start": 100, "sparsity_end": 200}],
            "training.optimizer": "adam",
            "training.learning_rate": 0.01,
            "training.loss_reduction": "mean",
            "evaluation.scales": [],
            "evaluation.success": {"rule": "iclr2020", "samples": 20_000},
        },
    )
    out = tmp_path / "out"
    assert main(["--config", str(config), "--out", str(out)]) == 0
    metrics = read_results(out, "metrics")
    assert set(metrics["eval_range"]) == {"[1,2]", "[2,6]"} and (metrics["eval_kind"] == "square").all()
    assert metrics["sparsity_error"].notna().all()
    assert set(metrics["operation"]) == {"mul", "square"}
    summary = (out / "report" / "summary.md").read_text()
    assert "Published vs this run — madsen2020" in summary and "a tiny version of the protocol" in summary
    assert (out / "report" / "published_vs_run.png").exists()
    published = summary.split("Published vs this run — madsen2020")[1].split("\n## ")[0]
    rows = [line for line in published.splitlines() if line.startswith("| nau→nmu")]
    # a·b's two published sources (the table's 100 seeds, the figure's 50) and a²'s one (the appendix)
    assert len(rows) == 3 and all("| not published |" not in r for r in rows), rows
    assert any(" on a² |" in r and "| 100/100 [0.96, 1.00] |" in r for r in rows), rows  # NMU squares 100%
