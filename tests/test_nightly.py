"""Several simulated nights with --date: steady nights, a planted regression (non-zero exit),
a failed night, a gap, a rerun of the same date, a held lock and a damaged history."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from support import write_study

from tasks.nightly.compare import compare
from tasks.nightly.history import read_history
from tasks.report.headlines import Headline, headline_frame
from tasks.store.storage import Store
from workflows.nightly import main

ROOT = Path(__file__).resolve().parent.parent
QUIET_SPEED = ["--speed-tolerance", "100"]  # timings on a shared test machine are not under test here


@pytest.fixture(scope="module")
def nights(ray_session, tmp_path_factory):
    """Root after: 11-01 ok, 11-02 ok, 11-03 planted regression, 11-05 failed (11-04 missing)."""
    tmp = tmp_path_factory.mktemp("nightly")
    write_study(tmp, {"name": "smoke", "training.steps": 5}, "worse")  # a "code change": far less training
    root = tmp / "root"
    codes = {}
    for date, config in [
        ("2026-11-01", "smoke"),
        ("2026-11-02", "smoke"),
        ("2026-11-03", str(tmp / "worse.yaml")),
        ("2026-11-05", str(tmp / "missing.yaml")),
    ]:
        codes[date] = main(["--config", config, "--root", str(root), "--date", date, *QUIET_SPEED])
    return root, codes, tmp


def test_steady_nights_pass(nights):
    root, codes, _ = nights
    assert codes["2026-11-01"] == 0 and codes["2026-11-02"] == 0
    record = json.loads((root / "nights" / "2026-11-02.json").read_text())
    assert record["status"] == "ok" and record["regressions"] == 0
    env = record["environment"]
    assert {"git_commit", "ray", "tensorflow", "cpu", "cpus", "cluster"} <= set(env)


def test_planted_regression_is_flagged_with_nonzero_exit(nights):
    root, codes, _ = nights
    assert codes["2026-11-03"] == 1
    summary = (root / "2026-11-03" / "summary.md").read_text()
    assert "## Flagged" in summary and "in_range_rmse" in summary and "regression" in summary
    index = (root / "index.html").read_text()
    assert "2026-11-03" in index


def test_failed_night_is_recorded_and_history_kept(nights):
    root, codes, _ = nights
    assert codes["2026-11-05"] == 2
    record = json.loads((root / "nights" / "2026-11-05.json").read_text())
    assert record["status"] == "failed" and "config file not found" in record["error"]
    history = read_history(Store(str(root)))
    assert set(history["date"]) == {"2026-11-01", "2026-11-02", "2026-11-03", "2026-11-05"}  # 11-04: a gap
    assert history.loc[history["date"] == "2026-11-05", "status"].tolist() == ["failed"]
    assert (history.loc[history["date"] < "2026-11-05", "status"] == "ok").all()


def test_rerun_of_a_date_replaces_it(nights):
    root, _, _ = nights
    before = pd.read_parquet(root / "history" / "date=2026-11-02" / "part-0.parquet")
    assert main(["--config", "smoke", "--root", str(root), "--date", "2026-11-02", *QUIET_SPEED]) == 0
    runs = [p.name for p in (root / "2026-11-02").iterdir() if p.name.startswith("r-")]
    assert len(runs) == 1  # the earlier run of that date is gone, the new one is current
    after = pd.read_parquet(root / "history" / "date=2026-11-02" / "part-0.parquet")
    assert after["run"].unique().tolist() == runs
    quality = ~after["metric"].eq("train_model_steps_per_s")
    pd.testing.assert_series_equal(before.loc[quality, "value"], after.loc[quality, "value"])  # deterministic
    assert json.loads((root / "nights" / "2026-11-02.json").read_text())["run"] == runs[0]


def test_index_renders_trends_with_gap_in_chromium(nights, browser_check):
    root, _, _ = nights
    images, _, errors = browser_check(root / "index.html")
    assert len(images) >= 4 and all(done and width > 100 for done, width in images)
    assert errors == []
    index = (root / "index.html").read_text()
    assert "2026-11-04" not in index  # a missing night is a gap, not a row


def test_same_date_runs_never_interleave(nights, capsys):
    root, _, _ = nights
    lock = root / "locks" / "2026-11-06.lock"
    lock.write_text(json.dumps({"owner": "other-host:123", "since": __import__("time").time()}))
    try:
        assert main(["--config", "smoke", "--root", str(root), "--date", "2026-11-06"]) == 2
        assert "in progress" in capsys.readouterr().err
        assert not (root / "nights" / "2026-11-06.json").exists()
    finally:
        lock.unlink()


def test_damaged_history_is_an_error_and_left_alone(nights, capsys):
    root, _, _ = nights
    victim = root / "history" / "date=2026-11-01" / "part-0.parquet"
    original = victim.read_bytes()
    victim.write_bytes(b"not parquet at all")
    try:
        assert main(["--config", "smoke", "--root", str(root), "--date", "2026-11-07"]) == 2
        err = capsys.readouterr().err
        assert "history file" in err and "unreadable" in err and "Traceback" not in err
        assert victim.read_bytes() == b"not parquet at all"
        assert not (root / "nights" / "2026-11-07.json").exists()
    finally:
        victim.write_bytes(original)


def test_bad_date_is_a_user_error(tmp_path, capsys):
    assert main(["--root", str(tmp_path / "r"), "--date", "2026-13-45"]) == 2
    assert "--date must be YYYY-MM-DD" in capsys.readouterr().err


def _night(date: str, value: float, lo: float, hi: float, metric: str = "in_range_rmse", better: str = "lower"):
    frame = headline_frame([Headline(metric, "mlp", value, lo, hi, 10, better)], date)
    return frame.assign(status="ok")


def test_compare_needs_tolerance_and_seed_noise():
    history = pd.concat([_night("2026-01-01", 1.0, 0.9, 1.1), _night("2026-01-02", 1.0, 0.9, 1.1)])
    verdict = lambda v, lo, hi: compare(_night("2026-01-03", v, lo, hi), history, 0.1, 7)["verdict"].iloc[0]  # noqa: E731
    assert verdict(1.05, 0.95, 1.15) == "ok"  # within tolerance
    assert verdict(1.5, 1.0, 2.0) == "ok"  # beyond tolerance, but within seed noise
    assert verdict(1.5, 1.3, 1.7) == "regression"  # beyond both, lower is better
    assert verdict(0.5, 0.4, 0.6) == "improvement"
    success = pd.concat([_night("2026-01-01", 0.2, 0.1, 0.3, "success_rate", "higher")])
    dropped = compare(_night("2026-01-02", 0.0, 0.0, 0.05, "success_rate", "higher"), success, 0.1, 7)
    assert dropped["verdict"].iloc[0] == "regression"
    first = compare(_night("2026-01-01", 1.0, 0.9, 1.1), history.iloc[0:0], 0.1, 7)
    assert first["verdict"].iloc[0] == "new"


def test_success_intervals_count_seeds_not_rows():
    """Per architecture and training → evaluation range, over seeds; in-range rows are left out."""
    from tasks.report.headlines import headlines

    rows = []
    for seed in range(10):
        for ev, ok in [("[1,2]", True), ("[2,6]", seed < 3), ("[2,12]", False)]:
            rows.append(
                {
                    "model_id": f"m{seed}",
                    "arch_label": "nmu",
                    "seed": seed,
                    "train_range": "[1,2]",
                    "eval_kind": "square",
                }
                | {
                    "eval_range": ev,
                    "success": ok,
                    "coverage": 1.0 if ev == "[1,2]" else 0.0,
                    "rmse": 1.0,
                    "nrmse": 1.0,
                }
            )
    metrics = pd.DataFrame(rows)
    models = pd.DataFrame({"bundle_id": ["b"], "bundle_model_steps_per_s": [1.0]})
    got = {h.arch: h for h in headlines(metrics, models) if h.metric == "success_rate"}
    assert set(got) == {"nmu @ [1,2] → [2,6]", "nmu @ [1,2] → [2,12]"}
    rate = got["nmu @ [1,2] → [2,6]"]
    assert (rate.value, rate.n) == (0.3, 10)  # 3 of 10 seeds; 30 rows would give a narrower, wrong interval
    assert rate.ci_low < 0.15 and rate.ci_high > 0.6


def test_a_single_night_gets_a_few_days_of_axis_not_years():
    from tasks.nightly.page import date_limits

    lo, hi = date_limits(["2026-11-26"])
    assert hi - lo == pd.Timedelta(days=3) and lo < pd.Timestamp("2026-11-26") < hi
    lo, hi = date_limits(["2026-11-01", "2026-11-20"])
    assert (lo, hi) == (pd.Timestamp("2026-10-31 12:00"), pd.Timestamp("2026-11-20 12:00"))


def test_identical_nights_with_other_seeds_are_not_flagged(ray_session, tmp_path):
    """Seed noise is not a regression: the same study with other seeds passes."""
    root = tmp_path / "root"
    for date, start in [("2026-02-01", 0), ("2026-02-02", 10)]:
        study = write_study(
            tmp_path,
            {
                "seeds": {"start": start, "count": 8},
                "training.steps": 1500,
                "training.optimizer": "adam",
                "training.learning_rate": 0.01,
                "training.loss_reduction": "mean",
            },
            f"seeds{start}",
        )
        assert main(["--config", str(study), "--root", str(root), "--date", date, *QUIET_SPEED]) == 0
    record = json.loads((root / "nights" / "2026-02-02.json").read_text())
    assert record["regressions"] == 0 and record["improvements"] == 0
