"""The examples of the docs' extension pages that are not plugins, run: a metric becomes a
column of the evaluation tables, a success rule judges models (and can fail them), and the
storage check passes on a local directory, a file:// URI and a loopback S3 server. The pages
show these files verbatim (tests/test_docs.py); the architecture and operation plugins run in
tests/test_plugins.py."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import numpy as np
import pytest
from support import ROOT, smoke_raw

from tasks.core.ranges import Ranges, coverage
from tasks.data.targets import PRODUCT
from tasks.evaluation import evaluate, success
from tasks.evaluation.job import EvalJob, EvalModel, EvalRange
from tasks.evaluation.success import SuccessConfig
from tasks.model.architecture import Architecture
from tasks.study.config import parse_config


def example(name: str):
    path = ROOT / "tests" / f"example_{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Bilinear(Architecture):
    """y = p·a·b + c with weights set by hand: stands in for trained models."""

    def forward(self, params, w, x):
        return w["p"] * x[..., 0] * x[..., 1] + w["c"]


def evaluated(rule: str, epsilon: float):
    """The metrics table of three models on U[1,2] and U[1,4]: exact, 0.1% off, 30% off."""
    weights = {"p": np.array([[1.0], [1.001], [1.3]], np.float32), "c": np.zeros((3, 1), np.float32)}
    rng = np.random.default_rng(3)
    train, wide = Ranges.of((1, 2)), Ranges.of((1, 4))
    test_sets = {"in": rng.uniform(1, 2, (500, 2)), "wide": rng.uniform(1, 4, (500, 2))}
    evals = (EvalRange("square", train, "in", 1.0), EvalRange("square", wide, "wide", coverage(train, wide)))
    models = tuple(EvalModel(f"m-{k}", k, train, evals, PRODUCT) for k in range(3))
    job = EvalJob.of("b-example", models, None, SuccessConfig(rule, epsilon, 1000), "uniform")
    metrics, _ = evaluate.evaluate_models(Bilinear("bilinear"), {}, weights, job, test_sets)
    return metrics.to_pandas(), test_sets


def test_a_metric_added_to_error_metrics_is_a_column_of_the_metrics_table(monkeypatch):
    p95 = example("metric").p95_abs_err
    shipped = evaluate.error_metrics_rows
    monkeypatch.setattr(evaluate, "error_metrics_rows", lambda y, p: {**shipped(y, p), "p95_abs_err": p95(y, p)})
    metrics, test_sets = evaluated("inputs_scaled", 1e-5)
    assert "p95_abs_err" in metrics.columns
    assert (metrics["mae"] <= metrics["p95_abs_err"]).all()
    assert (metrics["p95_abs_err"] <= metrics["max_abs_err"]).all()
    x = test_sets["wide"]
    row = metrics[(metrics["model_id"] == "m-2") & (metrics["eval_range"] == "[1,4]")].iloc[0]
    error = np.abs(np.float32(1.3) * x[:, 0] * x[:, 1] - x[:, 0] * x[:, 1])
    assert row["p95_abs_err"] == pytest.approx(np.percentile(error, 95), rel=1e-5)
    assert p95(np.array([1.0, 2.0]), np.array([[1.0, np.inf], [1.0, 2.0]])).tolist() == [np.inf, 0.0]  # not hidden


def test_a_success_rule_in_the_registry_is_a_config_choice_and_judges_models(monkeypatch):
    rule = example("success_rule").RULE
    raw = smoke_raw({"evaluation.success": {"rule": "nrmse_below", "epsilon": 0.01}})
    with pytest.raises(Exception, match="nrmse_below"):
        parse_config(raw)  # not registered: an unknown value
    monkeypatch.setitem(success.REGISTRY, rule.name, rule)
    assert parse_config(raw).evaluation.success.rule == "nrmse_below"
    metrics, _ = evaluated("nrmse_below", 0.01)
    assert (metrics["success"] == (metrics["nrmse"] < 0.01)).all()  # the rule is what it says
    by_model = metrics.groupby("model_id")["success"].all()
    assert by_model.to_dict() == {"m-0": True, "m-1": True, "m-2": False}  # it can fail a model


@pytest.mark.parametrize("kind", ["path", "file_uri", "s3"])
def test_the_storage_check_passes_on_every_backend_the_lab_uses(kind, tmp_path, request, capsys):
    uri = {"path": lambda: str(tmp_path), "file_uri": lambda: f"file://{tmp_path}"}.get(kind)
    uri = uri() if uri else request.getfixturevalue("s3_server")("storage-check")
    example("storage").check_backend(uri)
    assert "verified reads work" in capsys.readouterr().out
