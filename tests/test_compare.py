"""Any two studies compared: real small studies that differ in architectures, training ranges
and seeds; what only one side has is listed, the rest judged; exit 0 / 1 / 2 mean no
regression / a regression / an error (one line) — a crash is never read as a regression.
Also the pandas operations comparisons rely on, on the pandas installed, and the caps of the
runtime dependencies."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

import pandas as pd
import pytest
from support import ROOT, write_study

from tasks.report.comparison import compare_headlines, groups_in_one
from workflows.compare import main as compare
from workflows.run import main as run

SHORT = {"training.steps": 100, "training.log_every": 50}


@pytest.fixture(scope="module")
def differing(ray_session, tmp_path_factory):
    """A: MLP and product unit on [0,1], [0,2], seeds 0–1. B: MLP and NMU on [0,1], [1,2], seeds 0–2."""
    tmp = tmp_path_factory.mktemp("compare")
    a = write_study(
        tmp,
        {**SHORT, "architectures": [{"arch": "mlp", "hidden": [16]}, {"arch": "product_unit"}]},
        "side_a",
    )
    b = write_study(
        tmp,
        {
            **SHORT,
            "seeds": [0, 1, 2],
            "train_ranges": [[0, 1], [1, 2]],
            "architectures": [{"arch": "mlp", "hidden": [16]}, {"arch": "nmu"}],
        },
        "side_b",
    )
    for config, out in ((a, tmp / "a"), (b, tmp / "b")):
        assert run(["--config", str(config), "--out", str(out)]) == 0
    return tmp / "a", tmp / "b", tmp


def test_studies_that_differ_are_compared_where_they_overlap_and_listed_where_not(differing, capsys):
    a, b, tmp = differing
    rc = compare([str(a), str(b), "--out", str(tmp / "ab")])
    captured = capsys.readouterr()
    assert rc in (0, 1) and "Traceback" not in captured.err, captured.err
    summary = (tmp / "ab" / "summary.md").read_text()
    listed = summary.split("## Architectures and ranges in one study only", 1)[1].split("##", 1)[0]
    assert re.search(r"product_unit \| \[0,1\] \| only in A", listed)
    assert re.search(r"mlp\(activation=relu hidden=16\) \| \[0,2\] \| only in A", listed)
    assert re.search(r"mlp\(activation=relu hidden=16\) \| \[1,2\] \| only in B", listed)
    assert re.search(r"nmu\(.*\) \| \[1,2\] \| only in B", listed)
    # what both have is judged: the MLP on [0,1] (2 seeds against 3), and their success rates
    assert re.search(
        r"in_range_rmse \| mlp\(activation=relu hidden=16\) @ \[0,1\] \|.*\| (ok|regression|improvement) \|", summary
    )
    assert re.search(
        r"success_rate \| mlp\(activation=relu hidden=16\) @ \[0,1\] → \[0,2\] \|.*\| (ok|regression|improvement) \|",
        summary,
    )
    assert "only in A" in summary and "only in B" in summary
    regressions = int(re.search(r"regressions (\d+)", captured.out).group(1))
    assert rc == (1 if regressions else 0)  # the exit code is the verdict, nothing else
    assert "2 models are in both studies; 6 only in A, 10 only in B" in summary  # the MLPs on [0,1], seeds 0, 1


def test_the_other_way_round_and_html(differing, capsys):
    a, b, tmp = differing
    rc = compare([str(b), str(a), "--out", str(tmp / "ba"), "--no-fail-on-regression"])
    assert rc == 0 and "Traceback" not in capsys.readouterr().err
    assert "only in B" in (tmp / "ba" / "summary.md").read_text()
    assert "<table" in (tmp / "ba" / "index.html").read_text()


def test_an_error_is_exit_2_in_one_line(differing, tmp_path, capsys):
    a, _, _ = differing
    assert compare([str(a), str(tmp_path / "nothing-here")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error:") and "Traceback" not in err


def test_a_crash_is_exit_2_never_the_regression_code(differing, tmp_path, capsys, monkeypatch):
    a, b, _ = differing
    import tasks.report.comparison as comparison

    def broken(*args, **kwargs):
        raise TypeError("Cannot setitem on a Categorical with a new category")

    monkeypatch.setattr(comparison, "comparison_pages", broken)
    assert compare([str(a), str(b), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "TypeError: Cannot setitem" in err and "Traceback" not in err


def test_pandas_operations_of_a_comparison():
    """The merge indicator is a Categorical: labelling its values once broke on pandas 3."""
    fit_a = pd.DataFrame({"arch_label": ["mlp", "mlp", "pu"], "train_range": ["[0,1]", "[0,2]", "[0,1]"]})
    fit_b = pd.DataFrame({"arch_label": ["mlp", "nmu"], "train_range": ["[0,1]", "[0,1]"]})
    only = groups_in_one(fit_a, fit_b, ("only in A (x)", "only in B (y)"))
    assert sorted(zip(only["arch_label"], only["train_range"], only["where"])) == [
        ("mlp", "[0,2]", "only in A (x)"),
        ("nmu", "[0,1]", "only in B (y)"),
        ("pu", "[0,1]", "only in A (x)"),
    ]
    assert groups_in_one(fit_a, fit_a, ("A", "B")).empty

    def headline(metric, arch, value, better="lower"):
        return {"metric": metric, "arch": arch, "value": value, "ci_low": value * 0.9, "ci_high": value * 1.1} | {
            "n": 5,
            "better": better,
        }

    a = pd.DataFrame([headline("in_range_rmse", "mlp", 1.0), headline("in_range_rmse", "pu", 1.0)])
    b = pd.DataFrame([headline("in_range_rmse", "mlp", 3.0), headline("success_rate", "nmu", 0.5, "higher")])
    table = compare_headlines(a, b, 0.1).set_index("arch")
    assert table.loc["mlp", "verdict"] == "regression" and table.loc["mlp", "change"] == pytest.approx(2.0)
    assert table.loc["pu", "verdict"] == "only in A" and table.loc["nmu", "verdict"] == "only in B"


def test_runtime_dependencies_are_capped_below_their_next_major():
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for line in project["dependencies"]:
        req = Requirement(line)
        caps = [s for s in req.specifier if s.operator == "<"]
        assert caps, f"{req.name} has no upper bound"
        installed = metadata.version(req.name)
        assert req.specifier.contains(installed, prereleases=True), f"{req.name} {installed} is outside {req.specifier}"
