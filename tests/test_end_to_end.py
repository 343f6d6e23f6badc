"""The whole DAG on a local Ray instance with the smoke config, then a rerun."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from support import read_results, write_study

from tasks.data.spec import DATA_VERSION
from tasks.evaluation.job import EVALUATION_VERSION
from tasks.jobs.collect import COLLECT_VERSION
from tasks.model.settings import TRAIN_VERSION
from tasks.report.page import REPORT_VERSION
from tasks.study.loading import load_config
from tasks.study.plan import make_plan
from workflows.run import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def smoke_out(ray_session, tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke") / "out"
    assert main(["--config", "smoke", "--out", str(out)]) == 0
    return out


def test_results_tables(smoke_out):
    plan = make_plan(load_config("smoke"))
    metrics = read_results(smoke_out, "metrics")
    required = {
        "model_id",
        "arch",
        "seed",
        "train_lo",
        "train_hi",
        "eval_lo",
        "eval_hi",
        "coverage",
        "rmse",
        "mae",
        "max_abs_err",
        "rel_err_median",
        "nrmse",
        "param_hidden",
        "param_activation",
    }
    assert required <= set(metrics.columns)
    assert set(metrics["model_id"]) == {m.model_id for m in plan.models}
    per_model = len(plan.models[0].evals) + len(plan.config.evaluation.diagonal.segments)
    assert len(metrics) == len(plan.models) * per_model
    assert not metrics.duplicated(["model_id", "eval_kind", "eval_range"]).any()
    in_range = metrics[(metrics.eval_kind == "square") & (metrics.eval_range == metrics.train_range)]
    assert (in_range["coverage"] == 1.0).all()
    far = metrics[(metrics.eval_kind == "square") & (metrics.coverage < 0.02)]
    assert far["rmse"].median() > 10 * in_range["rmse"].median()  # the article's point, even at smoke size

    models = read_results(smoke_out, "models")  # each model's extrapolation horizon, searched up to ×10
    assert set(models["horizon_status"]) <= {"within", "capped", "none"} and (models["horizon_cap"] == 10).all()
    found = models[models["horizon_status"] != "none"]
    assert found["horizon_scale"].between(1, 10).all() and found["horizon_coverage"].between(0.01, 1).all()
    assert models.loc[models["horizon_status"] == "none", "horizon_scale"].isna().all()

    curves = read_results(smoke_out, "curves")
    assert sorted(curves["step"].unique()) == [100, 200, 300]
    diagonal = read_results(smoke_out, "diagonal")
    assert len(diagonal) == len(plan.models) * 200


def test_report_is_self_contained(smoke_out):
    report = smoke_out / "report"
    html = (report / "index.html").read_text()
    assert html.count("data:image/png;base64,") == 7
    assert 'src="http' not in html and "<script" not in html
    stems = ("diagonal_train_range", "diagonal_full", "error_vs_coverage", "error_vs_coverage_fitted", "horizon")
    for stem in (*stems, "success", "training_curves"):
        assert (report / f"{stem}.png").stat().st_size > 1000, stem
    # smoke's report.vector_formats is []: no vector copies, and no link to one
    assert not (report / "figures").exists() and 'href="figures/' not in html
    assert (report / "summary.md").stat().st_size > 1000
    assert "in_range_rmse" in (report / "summary.md").read_text()


def test_outputs_are_complete_and_atomic(smoke_out):
    assert not list(smoke_out.rglob(".tmp-*"))
    for d in (smoke_out / "datasets").iterdir():
        assert (d / "_manifest.json").is_file()
    for d in (smoke_out / "models").iterdir():
        manifest = json.loads((d / "_manifest.json").read_text())
        assert {f["path"].split("/")[-1] for f in manifest["files"].values()} == {
            "weights.npz",
            "curves.parquet",
            "probes.parquet",
        }


def test_rerun_trains_nothing_and_gives_identical_metrics(smoke_out, capsys):
    before = read_results(smoke_out, "metrics")
    bundles_before = sorted(p.name for p in (smoke_out / "models").iterdir())
    assert main(["--config", "smoke", "--out", str(smoke_out)]) == 0
    printed = capsys.readouterr().err
    assert "0 of 4 models to train" in printed and "results and report are current" in printed
    manifest = json.loads((smoke_out / "results" / "_manifest.json").read_text())
    assert manifest["n_trained"] == 4  # the results of the run that trained them, reused as they are
    pd.testing.assert_frame_equal(before, read_results(smoke_out, "metrics"))
    assert sorted(p.name for p in (smoke_out / "models").iterdir()) == bundles_before


def test_dry_run_writes_nothing(tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["--config", "quick", "--out", str(out), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "models: 45" in text and "estimate" in text
    assert not out.exists()


def test_unrelated_output_directory_is_refused(tmp_path, capsys):
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("keep me")
    assert main(["--config", "smoke", "--out", str(precious)]) == 2
    assert "not a lab output directory" in capsys.readouterr().err
    assert [p.name for p in precious.iterdir()] == ["chapter1.tex"]


def test_unknown_uri_scheme_is_refused(capsys):
    assert main(["--config", "smoke", "--out", "ftp://example/x"]) == 2
    assert "unknown URI scheme 'ftp://'" in capsys.readouterr().err


def test_cli_user_error_is_one_line_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "workflows/configs/smoke.yaml").read_text().replace("steps: 300", "steps: 0"))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "workflows/run.py"), "--config", str(bad), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == "error: config error at 'training.steps': must be ≥ 1, got 0"
    assert not (tmp_path / "o").exists()


def test_report_renders_in_headless_chromium(smoke_out, browser_check):
    """The report opens in a real browser: every figure decodes and the console stays clean."""
    images, tables, errors = browser_check(smoke_out / "report" / "index.html")
    assert len(images) == 7 and all(done and width > 100 for done, width in images), images
    assert tables >= 3
    assert errors == []


def test_a_smaller_study_in_the_same_output_keeps_only_its_rows(smoke_out, tmp_path, capsys):
    """Results are parts per evaluation; a study with fewer models rewrites them, drops the rest."""
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(smoke_out, out)
    fewer = write_study(tmp_path, {"name": "smoke", "seeds": [0]}, "fewer")
    assert main(["--config", str(fewer), "--out", str(out)]) == 2  # another study: only when told
    assert "which differs (seeds [0, 1] → [0])" in capsys.readouterr().err
    assert main(["--config", str(fewer), "--out", str(out), "--replace"]) == 0
    assert "0 of 2 models to train" in capsys.readouterr().err  # reused, collected again
    metrics = read_results(out, "metrics")
    assert set(metrics["seed"]) == {0} and len(set(metrics["model_id"])) == 2
    listed = json.loads((out / "results" / "_manifest.json").read_text())["files"]
    on_disk = {f"metrics/{p.name}" for p in (out / "results" / "metrics").iterdir()}
    assert on_disk == {k + ".parquet" for k in listed if k.startswith("metrics/")}


def test_outputs_of_an_older_training_version_are_named_and_never_reused(smoke_out, tmp_path, capsys):
    """A directory written by an earlier version of the training stage: its models are counted,
    said to be of that version, and trained anew; nothing of theirs reaches the results. The
    checkpoints of its unfinished bundles, which this version cannot resume, are named in one
    line (a stopped long run would otherwise restart from step 0 without a word)."""
    out = tmp_path / "older"
    shutil.copytree(smoke_out, out)
    for derived in ("evals", "results", "report"):  # their ids would differ too: none would match
        shutil.rmtree(out / derived)
    for path in out.glob("models/*/_manifest.json"):
        manifest = json.loads(path.read_text())
        path.write_text(json.dumps({**manifest, "train_version": 1}))
    planted = [("b-unfinished1", 1, 4_000), ("b-unfinished2", 1, 12_000), ("b-resumable", TRAIN_VERSION, 8_000)]
    for bundle, version, step in planted:  # what stopped long runs leave
        saved = out / "models" / bundle / "checkpoint"
        saved.mkdir(parents=True)
        (saved / "checkpoint.json").write_text(json.dumps({"train_version": version, "key": "ckpt-x", "step": step}))
    assert main(["--config", "smoke", "--out", str(out)]) == 0
    printed = capsys.readouterr().err
    assert "holds 4 models trained under training version 1" in printed and "4 of 4 models to train" in printed
    said = [line for line in printed.splitlines() if "[checkpoint]" in line]
    assert len(said) == 1 and "2 unfinished bundles saved by training version 1 (at steps 4,000–12,000" in said[0]
    fresh = [json.loads(p.read_text()) for p in out.glob("models/*/_manifest.json")]
    assert sum(len(m["members"]) for m in fresh if m["train_version"] != 1) == 4
    pd.testing.assert_frame_equal(read_results(smoke_out, "metrics"), read_results(out, "metrics"))


def test_manifests_record_their_stage_version(smoke_out):
    versions = {
        "datasets": ("data_version", DATA_VERSION),
        "models": ("train_version", TRAIN_VERSION),
        "evals": ("evaluation_version", EVALUATION_VERSION),
    }
    for folder, (key, version) in versions.items():
        manifests = [json.loads(p.read_text()) for p in (smoke_out / folder).glob("*/_manifest.json")]
        assert manifests and all(m[key] == version and "numerics" not in m for m in manifests), folder
    assert _manifest(smoke_out, "results")["collect_version"] == COLLECT_VERSION
    assert _manifest(smoke_out, "report")["report_version"] == REPORT_VERSION


# ---- a new version of one stage redoes that stage and those after it, nothing before -----------
def _manifest(out: Path, artifact: str) -> dict:
    return json.loads((out / artifact / "_manifest.json").read_text())


def _manifests(out: Path, folder: str) -> dict[str, str]:
    """Every manifest of a kind of artifact, as written (id → text)."""
    return {p.parent.name: p.read_text() for p in (out / folder).glob("*/_manifest.json")}


def run_with_bumped(constant: str, module: str, out: Path, workdir: Path) -> str:
    """The smoke study into `out`, run by a copy of this checkout whose `constant` (in `module`)
    is one higher: what a developer's bump does. In a process of its own with a Ray of its own,
    so the driver and every worker run the bumped code. Returns what it printed."""
    code = workdir / "code"
    for part in ("tasks", "workflows"):
        shutil.copytree(ROOT / part, code / part, ignore=shutil.ignore_patterns("__pycache__"))
    path = code / module
    bump = (rf"^{constant} = (\d+)$", lambda m: f"{constant} = {int(m[1]) + 1}")
    text, bumped = re.subn(*bump, path.read_text(), flags=re.MULTILINE)
    assert bumped == 1, f"{constant} is not defined once in {module}"
    path.write_text(text)
    proc = subprocess.run(
        [sys.executable, str(code / "workflows" / "run.py"), "--config", "smoke", "--out", str(out)],
        cwd=code,
        env={**os.environ, "PYTHONPATH": str(code)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc.stderr + proc.stdout  # the log, then the [done] line


def _same_metrics(before: pd.DataFrame, after: pd.DataFrame, keys: list[str]) -> None:
    """The same numbers for the same models, whatever their ids and bundles are now."""
    ids = ["model_id", "bundle_id"]
    a, b = (m.drop(columns=ids).sort_values(keys).reset_index(drop=True) for m in (before, after))
    pd.testing.assert_frame_equal(a, b)


def test_a_new_evaluation_version_re_evaluates_and_trains_nothing(smoke_out, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(smoke_out, out)
    models, datasets = _manifests(out, "models"), _manifests(out, "datasets")
    results, report = _manifest(out, "results"), _manifest(out, "report")
    printed = run_with_bumped("EVALUATION_VERSION", "tasks/evaluation/job.py", out, tmp_path)
    n_evals = len(_manifests(smoke_out, "evals"))
    assert f"holds {n_evals} evaluations of evaluation version {EVALUATION_VERSION}" in printed
    assert "0 of 4 models to train" in printed
    assert _manifests(out, "models") == models and _manifests(out, "datasets") == datasets  # untouched
    fresh = [
        json.loads(t) for t in _manifests(out, "evals").values() if t not in _manifests(smoke_out, "evals").values()
    ]
    assert len(fresh) == n_evals and all(m["evaluation_version"] == EVALUATION_VERSION + 1 for m in fresh)
    assert _manifest(out, "results")["results_id"] != results["results_id"]
    assert _manifest(out, "report")["report_id"] != report["report_id"]
    keys = ["seed", "train_range", "eval_kind", "eval_range"]
    _same_metrics(read_results(smoke_out, "metrics"), read_results(out, "metrics"), keys)  # the same code


def test_a_new_report_version_redraws_the_report_only(smoke_out, tmp_path, monkeypatch, capsys):
    """The report is drawn by the driver on the path that starts no Ray, so raising the
    constant in this process is what a bumped checkout would run."""
    from tasks.report import page

    out = tmp_path / "out"
    shutil.copytree(smoke_out, out)
    kept = {folder: _manifests(out, folder) for folder in ("datasets", "models", "evals")}
    results, report = (out / "results" / "_manifest.json").read_text(), _manifest(out, "report")
    monkeypatch.setattr(page, "REPORT_VERSION", REPORT_VERSION + 1)
    assert main(["--config", "smoke", "--out", str(out)]) == 0
    printed = capsys.readouterr().err
    assert "[ray]" not in printed and "results are current, the report is redrawn" in printed
    assert {folder: _manifests(out, folder) for folder in kept} == kept
    assert (out / "results" / "_manifest.json").read_text() == results
    redrawn = _manifest(out, "report")
    assert redrawn["report_version"] == REPORT_VERSION + 1 and redrawn["report_id"] != report["report_id"]
    assert main(["--config", "smoke", "--out", str(out)]) == 0  # and then it is current
    assert "results and report are current" in capsys.readouterr().err


def test_a_new_training_version_retrains_and_reuses_the_datasets(smoke_out, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(smoke_out, out)
    datasets = _manifests(out, "datasets")
    printed = run_with_bumped("TRAIN_VERSION", "tasks/model/settings.py", out, tmp_path)
    assert "4 of 4 models to train" in printed
    assert _manifests(out, "datasets") == datasets
    fresh = [json.loads(t) for b, t in _manifests(out, "models").items() if b not in _manifests(smoke_out, "models")]
    assert sum(len(m["members"]) for m in fresh) == 4 and all(m["train_version"] == TRAIN_VERSION + 1 for m in fresh)
    before, after = read_results(smoke_out, "metrics"), read_results(out, "metrics")
    assert set(before["model_id"]).isdisjoint(after["model_id"])  # new ids: the version is in them
    _same_metrics(before, after, ["seed", "train_range", "eval_kind", "eval_range"])  # the same training code
