"""Any two studies compared: real small studies that differ in architectures, training ranges
and seeds; what only one side has is listed, the rest judged; exit 0 / 1 / 2 mean no
regression / a regression / an error (one line) — a crash is never read as a regression.
The verdicts on real studies: the same config with other seeds (must not fire), far less
training (must fire), two or three seeds (underpowered). Also the pandas operations
comparisons rely on, on the pandas installed, and the caps of the runtime dependencies."""

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
    # what both have is tested: the MLP on [0,1] (3 seeds against 2, seeds 0 and 1 the same models on both
    # sides: tied values; no test can decide), its success rates
    assert re.search(
        r"in_range_rmse \| mlp\(activation=relu hidden=16\) @ \[0,1\] \|.*\| rank-sum \(exact, ties\) \|.*"
        r"\| underpowered \| 3 against 2 seeds: the smallest p-value this test can give is 0.2",
        summary,
    )
    assert re.search(
        r"success_rate \| mlp\(activation=relu hidden=16\) @ \[0,1\] → \[0,2\] \|.*\| Fisher exact \|.*"
        r"\| underpowered \|",
        summary,
    )
    assert "only in A" in summary and "only in B" in summary
    regressions = int(re.search(r"regressions (\d+)", captured.out).group(1))
    assert rc == (1 if regressions else 0)  # the exit code is the verdict, nothing else
    assert "2 models are in both studies; 6 only in A, 10 only in B" in summary  # the MLPs on [0,1], seeds 0, 1


@pytest.fixture(scope="module")
def replicates(ray_session, tmp_path_factory):
    """One small config run three times: seeds 0–7 (A), seeds 8–15 (the same config with other
    seeds), and seeds 8–15 trained 20 steps instead of 300 (a real regression)."""
    tmp = tmp_path_factory.mktemp("replicates")
    base = {"train_ranges": [[0, 1]], "architectures": [{"arch": "mlp", "hidden": [16]}]}
    studies = {
        "a": {**base, "seeds": {"start": 0, "count": 8}},
        "other_seeds": {**base, "seeds": {"start": 8, "count": 8}},
        "short": {**base, "seeds": {"start": 8, "count": 8}, "training.steps": 20, "training.log_every": 10},
    }
    for name, overrides in studies.items():
        assert run(["--config", str(write_study(tmp, overrides, name)), "--out", str(tmp / name)]) == 0
    return tmp


def flagged_table(summary: str) -> str:
    return summary.split("## Flagged", 1)[1].split("##", 1)[0]


def test_the_same_config_with_other_seeds_is_not_a_regression(replicates, capsys):
    out = replicates / "same"
    rc = compare([str(replicates / "a"), str(replicates / "other_seeds"), "--out", str(out)])
    said = capsys.readouterr().out
    summary = (out / "summary.md").read_text()
    assert rc == 0 and "regressions 0" in said, said
    assert "No significant change beyond the tolerance." in flagged_table(summary)
    assert "| improvement |" not in summary and "| regression |" not in summary
    assert "Wilcoxon rank-sum" in summary and "Fisher's exact test" in summary and "Holm" in summary
    assert re.search(r"in_range_rmse \| .* @ \[0,1\] \|.*\| rank-sum \(exact\) \| [0-9.e-]+ \| [0-9.e-]+ \|", summary)


def test_far_less_training_is_a_regression(replicates, capsys):
    out = replicates / "short"
    rc = compare([str(replicates / "a"), str(replicates / "short"), "--out", str(out / "cmp")])
    said = capsys.readouterr().out
    flagged = flagged_table((out / "cmp" / "summary.md").read_text())
    assert rc == 1 and int(re.search(r"regressions (\d+)", said).group(1)) >= 1
    row = next(line for line in flagged.splitlines() if line.startswith("| in_range_rmse"))
    assert "| regression |" in row and "rank-sum (exact)" in row
    p_holm = float(row.split("|")[-5])  # …| test | p_value | p_holm | power | verdict | note |
    assert p_holm < 0.05
    assert "p_holm" in (out / "cmp" / "index.html").read_text()  # the HTML page shows the test too


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
        seeds = [value * (1 + i / 100) for i in range(8)]
        return {"metric": metric, "arch": arch, "value": value, "ci_low": value * 0.9, "ci_high": value * 1.1} | {
            "n": 8,
            "better": better,
            "sample": seeds if metric != "success_rate" else [],
        }

    a = pd.DataFrame([headline("in_range_rmse", "mlp", 1.0), headline("in_range_rmse", "pu", 1.0)])
    b = pd.DataFrame([headline("in_range_rmse", "mlp", 3.0), headline("success_rate", "nmu", 0.5, "higher")])
    table = compare_headlines(a, b, 0.1).set_index("arch")
    assert table.loc["mlp", "verdict"] == "regression" and table.loc["mlp", "change"] == pytest.approx(2.0)
    assert table.loc["mlp", "p_value"] == pytest.approx(2 / 12870)
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
