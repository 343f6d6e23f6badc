"""Bring your own architecture: a unit defined outside the project (tests/example_plugin.py)
trains, evaluates, appears in the report and resumes like a shipped one; its source is part
of its models' ids; configs never import code."""

from __future__ import annotations

import shutil
import sys

import pytest
from support import ROOT, read_results, write_study

from tasks.model import plugins, registry
from tasks.report.summaries import in_range
from tasks.study.loading import load_config
from tasks.study.plan import make_plan
from workflows.run import main

PLUGIN = ROOT / "tests" / "example_plugin.py"


@pytest.fixture(autouse=True)
def no_plugins_left_behind():
    plugins.reset()
    yield
    plugins.reset()


def assert_resumes(args: list[str], n_models: int, capsys) -> None:
    capsys.readouterr()
    assert main(args) == 0  # resumes: everything reused
    assert f"0 of {n_models} models to train" in capsys.readouterr().out


def test_plugin_unit_trains_reports_and_resumes(ray_session, tmp_path, capsys):
    config = write_study(tmp_path, {"architectures": [{"arch": "quadratic"}, {"arch": "mlp", "hidden": [16]}]})
    out = tmp_path / "out"
    args = ["--plugin", str(PLUGIN), "--config", str(config), "--out", str(out)]
    assert main(args) == 0
    metrics = read_results(out, "metrics")
    assert set(metrics["arch"]) == {"quadratic", "mlp"}
    inside = in_range(metrics[metrics["arch"] == "quadratic"])
    assert len(inside) == 4 and (inside["nrmse"] < 1).all()  # it learned something of a·b
    assert "quadratic(init_scale=0.1)" in (out / "report" / "index.html").read_text()
    assert_resumes(args, 8, capsys)


def ids_around_an_edit(tmp_path, plugin, overrides: dict, group) -> tuple[dict, dict]:
    """Model ids of a study (by `group(model)`) with a copy of `plugin` beside the user, found as
    `python -m` would, before and after a line is added to that copy."""
    copy = tmp_path / f"my_{plugin.stem}.py"
    shutil.copy(plugin, copy)
    config = write_study(tmp_path, overrides)

    def ids() -> dict[str, set[str]]:
        plugins.load_plugins([copy.stem])
        plan = make_plan(load_config(str(config)))
        by_group: dict[str, set[str]] = {}
        for m in plan.models:
            by_group.setdefault(group(m), set()).add(m.model_id)
        plugins.reset()
        return by_group

    before = ids()
    assert ids() == before  # deterministic
    copy.write_text(copy.read_text() + "\n# tuned\n")
    return before, ids()


def test_editing_a_plugin_changes_its_model_ids(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    archs = {"architectures": [{"arch": "quadratic"}, {"arch": "mlp"}]}
    before, after = ids_around_an_edit(tmp_path, PLUGIN, archs, lambda m: m.arch.arch)
    assert after["quadratic"].isdisjoint(before["quadratic"])  # edited code never reuses old models
    assert after["mlp"] == before["mlp"]  # shipped architectures are versioned with the project


def test_configs_never_import_code(tmp_path, capsys):
    config = write_study(tmp_path, {"architectures": [{"arch": "quadratic"}]})
    assert main(["--config", str(config), "--out", str(tmp_path / "out"), "--dry-run"]) == 2
    assert "unknown value 'quadratic'" in capsys.readouterr().err
    assert "quadratic" not in registry.names()


def test_bad_plugins_are_one_line_errors(tmp_path, capsys):
    assert main(["--plugin", str(tmp_path / "nope.py"), "--config", "smoke", "--dry-run"]) == 2
    assert "plugin file not found" in capsys.readouterr().err
    broken = tmp_path / "broken_units.py"
    broken.write_text("raise RuntimeError('half-written unit')\n")
    assert main(["--plugin", str(broken), "--config", "smoke", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: cannot load plugin {broken}: RuntimeError: half-written unit"
    assert "broken_units" not in sys.modules
    assert main(["--plugin", "no_such_module_xyz", "--config", "smoke", "--dry-run"]) == 2
    assert "cannot load plugin no_such_module_xyz" in capsys.readouterr().err


def test_installed_entry_point_registers_its_units(tmp_path, monkeypatch):
    """A distribution that declares `multiplication_lab.plugins` is loaded without a flag."""
    site = tmp_path / "site"
    (site / "lab_extra-0.1.dist-info").mkdir(parents=True)
    (site / "lab_extra-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: lab-extra\nVersion: 0.1\n")
    (site / "lab_extra-0.1.dist-info" / "entry_points.txt").write_text(
        "[multiplication_lab.plugins]\nextra = lab_extra_units\n"
    )
    (site / "lab_extra_units.py").write_text(
        PLUGIN.read_text().replace('register(Quadratic("quadratic"))', 'register(Quadratic("quadratic_installed"))')
    )
    monkeypatch.syspath_prepend(str(site))
    loaded = plugins.load_plugins([])
    assert [p.module for p in loaded] == ["lab_extra_units"]
    assert "quadratic_installed" in registry.names()


OPERATION_PLUGIN = ROOT / "tests" / "example_operation_plugin.py"
OPERATIONS_STUDY = {  # a·b, a/b and the plugin's a² + b² on U[1,2] → U[2,6]: the divisor stays away from 0
    "target": {"operation": ["mul", "div", "sum_squares"]},
    "train_ranges": [{"range": [1, 2], "eval": [[2, 6]]}],
    "architectures": [{"arch": "mlp", "hidden": [16]}, {"arch": "nmu", "sparsity_start": 100, "sparsity_end": 200}],
    "training.optimizer": "adam",
    "training.learning_rate": 0.01,
    "training.loss_reduction": "mean",
    "evaluation.scales": [],
    "evaluation.diagonal": {"lo": 1, "hi": 10, "points": 90, "segments": [[1, 2], [2, 6], [6, 10]]},
}


def test_plugin_operation_runs_beside_multiplication_and_division(ray_session, tmp_path, capsys):
    config = write_study(tmp_path, OPERATIONS_STUDY)
    out = tmp_path / "out"
    args = ["--plugin", str(OPERATION_PLUGIN), "--config", str(config), "--out", str(out)]
    assert main(args) == 0
    metrics = read_results(out, "metrics")
    assert set(metrics["operation"]) == {"mul", "div", "sum_squares"}
    assert set(metrics.loc[metrics["eval_kind"] == "square", "eval_range"]) == {"[1,2]", "[2,6]"}
    inside = in_range(metrics[metrics["arch"] == "mlp"])
    assert len(inside) == 6 and (inside["nrmse"] < 0.5).all()  # every operation is learned on its range
    diagonal = read_results(out, "diagonal").merge(metrics[["model_id", "operation"]].drop_duplicates(), on="model_id")
    x = diagonal["x"].to_numpy().astype("float32").astype(float)
    truth = {"mul": x * x, "div": x / x, "sum_squares": 2 * x * x}
    for op, expected in truth.items():
        own = (diagonal["operation"] == op).to_numpy()
        assert (diagonal.loc[own, "y_true"].to_numpy() == expected[own]).all(), op
    nmu = metrics[(metrics["arch"] == "nmu") & (metrics["eval_kind"] == "square")]
    assert nmu.loc[nmu["operation"] == "mul", "success"].all()  # an NMU multiplies, and says so
    assert not nmu.loc[nmu["operation"] == "div", "success"].any()  # it cannot divide: a verdict that fails
    summary = (out / "report" / "summary.md").read_text()
    assert "## Which unit extrapolates which operation" in summary and "(y = a·b, a/b, a²+b²)" in summary
    table = summary.split("## Which unit extrapolates which operation")[1].split("##")[0]
    assert "| architecture | a·b | a/b | a²+b² |" in table and "(2/2)" in table
    assert (out / "report" / "operations.png").exists()
    assert_resumes(args, 12, capsys)


def test_editing_an_operation_plugin_changes_its_ids(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before, after = ids_around_an_edit(tmp_path, OPERATION_PLUGIN, OPERATIONS_STUDY, lambda m: m.target.operation.name)
    assert after["sum_squares"].isdisjoint(before["sum_squares"])  # its datasets and models are rebuilt
    assert after["mul"] == before["mul"] and after["div"] == before["div"]


def test_operation_plugins_are_named_and_judged_like_shipped_ones(tmp_path, capsys):
    config = write_study(tmp_path, OPERATIONS_STUDY)
    assert main(["--config", str(config), "--out", str(tmp_path / "out"), "--dry-run"]) == 2
    assert "unknown value 'sum_squares'" in capsys.readouterr().err  # configs never import code
    primer = write_study(tmp_path, {**OPERATIONS_STUDY, "evaluation.success": {"rule": "primer2022"}}, "primer")
    assert main(["--plugin", str(OPERATION_PLUGIN), "--config", str(primer), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: config error at 'evaluation.success.rule': primer2022: the Primer defines no")
    assert "\n" not in err and "sum_squares" in err
