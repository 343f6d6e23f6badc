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
    capsys.readouterr()
    assert main(args) == 0  # resumes: everything reused
    assert "0 of 8 models to train" in capsys.readouterr().out


def test_editing_a_plugin_changes_its_model_ids(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(PLUGIN, tmp_path / "my_units.py")
    config = write_study(tmp_path, {"architectures": [{"arch": "quadratic"}, {"arch": "mlp"}]})

    def ids() -> dict[str, set[str]]:
        plugins.load_plugins(["my_units"])  # a module beside the user, found as `python -m` would
        plan = make_plan(load_config(str(config)))
        plugins.reset()
        return {a: {m.model_id for m in plan.models if m.arch.arch == a} for a in ("quadratic", "mlp")}

    before = ids()
    assert ids() == before  # deterministic
    (tmp_path / "my_units.py").write_text((tmp_path / "my_units.py").read_text() + "\n# tuned\n")
    after = ids()
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


def test_readme_shows_the_tested_plugin_verbatim():
    readme = (ROOT / "README.md").read_text()
    assert f"```python\n{PLUGIN.read_text()}```" in readme
