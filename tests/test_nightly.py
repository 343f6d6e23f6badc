"""Several simulated nights with --date: steady nights (one after a night recorded by an
earlier version, without per-seed values), a planted regression (non-zero exit), a failed
night, a gap, a rerun of the same date, a held lock and a damaged history; the same study with
other seeds (not flagged). The statistics of the verdicts on many simulated nights:
tests/test_judgement.py."""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import socket
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from support import write_study

from tasks.nightly.compare import compare
from tasks.nightly.history import read_history
from tasks.nightly.page import METRIC_TITLES
from tasks.report.headlines import Headline, headline_frame
from tasks.store.storage import Store
from workflows.nightly import main

ROOT = Path(__file__).resolve().parent.parent
QUIET_SPEED = ["--speed-tolerance", "100"]  # timings on a shared test machine are not under test here


SEEDS = {"seeds": {"start": 0, "count": 8}, "train_ranges": [[0, 1]]}  # 8 seeds: a rank test can decide


def plant_better_past(root: Path, date: str) -> None:
    """A planted regression with the config unchanged (as a code change would make one):
    the in-range RMSE of an earlier night rewritten 10× lower, intervals and seeds and all."""
    part = root / "history" / f"date={date}" / "part-0.parquet"
    frame = pd.read_parquet(part)
    rows = frame["metric"] == "in_range_rmse"
    frame.loc[rows, ["value", "ci_low", "ci_high"]] = frame.loc[rows, ["value", "ci_low", "ci_high"]] / 10
    frame["sample"] = [v / 10 if planted else v for v, planted in zip(frame["sample"], rows)]
    frame.to_parquet(part, index=False)


def record_as_an_earlier_version(root: Path, date: str) -> None:
    """A night's history as versions before per-seed values were kept wrote it."""
    part = root / "history" / f"date={date}" / "part-0.parquet"
    pd.read_parquet(part).drop(columns="sample").to_parquet(part, index=False)


def dead_pid() -> int:
    """The PID of a process of this host that has ended (and been reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture(scope="module")
def nights(ray_session, tmp_path_factory):
    """Root after: 11-01 ok (its history then rewritten as an earlier version wrote it), 11-02
    ok, 11-03 a planted regression (same config), 11-05 failed (11-04 missing), 11-08 config
    changed (--set) over the lock of a run killed on this host. The study: smoke, 8 seeds."""
    tmp = tmp_path_factory.mktemp("nightly")
    root = tmp / "root"
    study = str(write_study(tmp, SEEDS, "nightly8"))
    codes, said = {}, {}
    for date, config, extra in [
        ("2026-11-01", study, []),
        ("2026-11-02", study, []),
        ("2026-11-03", study, []),
        ("2026-11-05", str(tmp / "missing.yaml"), []),
        ("2026-11-08", study, ["--set", "training.steps=5", "--set", "training.log_every=5"]),  # far less training
    ]:
        if date == "2026-11-02":
            record_as_an_earlier_version(root, "2026-11-01")
        if date == "2026-11-03":
            plant_better_past(root, "2026-11-02")
        if date == "2026-11-08":  # what `kill -9` of a night leaves (the lock format of earlier versions)
            (root / "locks").mkdir(exist_ok=True)
            owner = f"{socket.gethostname()}:{dead_pid()}:{time.time():.3f}"
            (root / "locks" / f"{date}.lock").write_text(
                json.dumps({"owner": owner, "since": time.time(), "host": platform.node()})
            )
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):  # the [nightly] line, the log
            codes[date] = main(["--config", config, *extra, "--root", str(root), "--date", date, *QUIET_SPEED])
        said[date] = out.getvalue()
    return root, codes, tmp, said


def test_steady_nights_pass(nights):
    root, codes, _, _ = nights
    assert codes["2026-11-01"] == 0 and codes["2026-11-02"] == 0
    record = json.loads((root / "nights" / "2026-11-02.json").read_text())
    assert record["status"] == "ok" and record["regressions"] == 0
    env = record["environment"]
    assert {"git_commit", "ray", "tensorflow", "cpu", "cpus", "cluster"} <= set(env)
    history = read_history(Store(str(root)))  # the median extrapolation horizon is tracked per architecture
    horizon = history[(history["metric"] == "horizon_scale") & (history["date"] == "2026-11-02")]
    assert (
        len(horizon) == 1 and horizon["better"].item() == "higher" and horizon["n"].item() == 8
    )  # 8 seeds, one training range
    assert 0 <= horizon["value"].item() <= 10 and METRIC_TITLES["horizon_scale"] in (root / "index.html").read_text()


def test_a_night_after_one_without_seeds_reads_it_and_marks_its_medians_not_comparable(nights):
    """11-01's history has the schema of earlier versions (no per-seed values): 11-02 reads it,
    tests the success rates (k/n and n suffice) and leaves the medians not comparable."""
    root, _, _, _ = nights
    summary = (root / "2026-11-02" / "summary.md").read_text()
    rows = [line for line in summary.splitlines() if line.startswith("| in_range_rmse")]
    assert rows and all("| not comparable |" in line and "no per-seed values" in line for line in rows)
    rates = [line for line in summary.splitlines() if line.startswith("| success_rate")]
    assert rates and all("Fisher exact" in line for line in rates)
    assert "not comparable" in summary.split("## All headline metrics")[0]  # counted in the summary's line


def test_planted_regression_is_flagged_with_nonzero_exit(nights):
    root, codes, _, _ = nights
    assert codes["2026-11-03"] == 1
    summary = (root / "2026-11-03" / "summary.md").read_text()
    assert "## Flagged" in summary and "in_range_rmse" in summary and "regression" in summary
    assert "Status: **regression** (exit code 1)" in summary  # the summary says what the exit code means
    flagged = summary.split("## Flagged", 1)[1].split("##", 1)[0]
    row = next(line for line in flagged.splitlines() if line.startswith("| in_range_rmse"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    header = [c.strip() for c in flagged.strip().splitlines()[0].split("|")[1:-1]]
    got = dict(zip(header, cells))
    assert got["verdict"] == "regression" and got["test"] == "rank-sum (exact)"
    assert float(got["p_value"]) == pytest.approx(2 / 12870, rel=1e-3)  # 8 seeds against 8, fully apart
    assert float(got["p_holm"]) < 0.05 and float(got["change_vs_prev"]) == pytest.approx(9.0)
    assert "Wilcoxon rank-sum" in summary and "Holm" in summary  # the page states its test
    index = (root / "index.html").read_text()
    assert "2026-11-03" in index
    # the latest night (11-08, config changed) shows every headline's test on the index too
    assert "Every headline&#x27;s test" in index or "Every headline's test" in index
    assert "<th>p_holm</th>" in index and "rank-sum (exact" in index and "<th>underpowered</th>" in index


def test_failed_night_is_recorded_and_history_kept(nights):
    root, codes, _, _ = nights
    assert codes["2026-11-05"] == 2
    record = json.loads((root / "nights" / "2026-11-05.json").read_text())
    assert record["status"] == "failed" and "config file not found" in record["error"]
    history = read_history(Store(str(root)))
    assert set(history["date"]) == {"2026-11-01", "2026-11-02", "2026-11-03", "2026-11-05", "2026-11-08"}  # no 11-04
    assert history.loc[history["date"] == "2026-11-05", "status"].tolist() == ["failed"]
    assert (history.loc[history["date"] < "2026-11-05", "status"] == "ok").all()


def test_rerun_of_a_date_replaces_it(nights):
    root, _, tmp, _ = nights
    before = pd.read_parquet(root / "history" / "date=2026-11-01" / "part-0.parquet")
    study = str(tmp / "nightly8.yaml")
    assert main(["--config", study, "--root", str(root), "--date", "2026-11-01", *QUIET_SPEED]) == 0
    runs = [p.name for p in (root / "2026-11-01").iterdir() if p.name.startswith("r-")]
    assert len(runs) == 1  # the earlier run of that date is gone, the new one is current
    after = pd.read_parquet(root / "history" / "date=2026-11-01" / "part-0.parquet")
    assert after["run"].unique().tolist() == runs
    quality = ~after["metric"].eq("train_model_steps_per_s")
    pd.testing.assert_series_equal(before.loc[quality, "value"], after.loc[quality, "value"])  # deterministic
    assert json.loads((root / "nights" / "2026-11-01.json").read_text())["run"] == runs[0]


def test_a_changed_config_is_recorded_and_not_judged(nights):
    """--set training.steps=5 trains far less: much worse, but the config says why, so the
    night is marked *config changed*, not a regression, and exits 0 as its summary says."""
    root, codes, _, said = nights
    assert codes["2026-11-08"] == 0
    record = json.loads((root / "nights" / "2026-11-08.json").read_text())
    assert record["config_resolved"]["training"]["steps"] == 5  # overrides included
    assert record["config_changed"] == "training.log_every 100 → 5, training.steps 300 → 5"
    assert record["outcome"] == "config changed" and record["regressions"] == 0 and record["exit_code"] == 0
    summary = (root / "2026-11-08" / "summary.md").read_text()
    assert "Status: **config changed** (exit code 0)" in summary
    assert "Config changed since the previous night: training.log_every 100 → 5, training.steps 300 → 5" in summary
    assert "| config changed |" in summary and "| regression |" not in summary
    assert "[nightly] 2026-11-08: config changed" in said["2026-11-08"]
    assert json.loads((root / "nights" / "2026-11-02.json").read_text())["config_changed"] == ""


def test_throughput_is_judged_only_from_bundles_that_trained_long_enough(nights):
    from tasks.report.headlines import MIN_TIMED_SECONDS, throughput

    root, _, _, _ = nights
    summary = (root / "2026-11-02" / "summary.md").read_text()
    assert f"Throughput not judged: no training bundle ran {MIN_TIMED_SECONDS:.0f} s or more" in summary
    history = read_history(Store(str(root)))
    assert not history["metric"].eq("train_model_steps_per_s").any()  # smoke's bundles are all compilation
    short = pd.DataFrame({"bundle_model_steps_per_s": [30.0, 190.0], "bundle_seconds": [2.0, 3.5]})
    assert throughput(short)[0] == []
    mixed = pd.DataFrame({"bundle_model_steps_per_s": [30.0, 1000.0, 1200.0], "bundle_seconds": [2.0, 40.0, 45.0]})
    (speed,), note = throughput(mixed)
    assert speed.value == 1100.0 and speed.n == 2 and note.startswith("throughput from the 2 of 3 bundles")


def test_status_and_exit_code_are_one_decision():
    from tasks.nightly.night import outcome
    from tasks.store.catalog import NightRecord

    flagged = NightRecord("2026-01-01", "ok", regressions=2)
    assert outcome(flagged, True) == ("regression", 1)
    assert outcome(flagged, False) == ("regression (not failing: --no-fail-on-regression)", 0)
    assert outcome(NightRecord("2026-01-01", "ok", config_changed="x 1 → 2"), True) == ("config changed", 0)
    assert outcome(NightRecord("2026-01-01", "failed"), True) == ("failed", 2)
    assert outcome(NightRecord("2026-01-01", "ok"), True) == ("ok", 0)


def test_lock_of_a_run_killed_on_this_host_is_taken_over(nights):
    root, codes, _, said = nights
    lines = [line for line in said["2026-11-08"].splitlines() if "taking over the lock" in line]
    assert len(lines) == 1 and "is gone" in lines[0] and "on this host" in lines[0], said["2026-11-08"]
    assert codes["2026-11-08"] == 0 and not (root / "locks" / "2026-11-08.lock").exists()


def test_index_renders_trends_with_gap_in_chromium(nights, browser_check):
    root, _, _, _ = nights
    images, _, errors = browser_check(root / "index.html")
    assert len(images) >= 4 and all(done and width > 100 for done, width in images)
    assert errors == []
    index = (root / "index.html").read_text()
    assert "2026-11-04" not in index  # a missing night is a gap, not a row


def test_same_date_runs_never_interleave(nights, capsys):
    root, _, _, _ = nights
    lock = root / "locks" / "2026-11-06.lock"
    lock.write_text(json.dumps({"owner": "other-host:123", "since": __import__("time").time()}))
    try:
        assert main(["--config", "smoke", "--root", str(root), "--date", "2026-11-06"]) == 2
        assert "in progress" in capsys.readouterr().err
        assert not (root / "nights" / "2026-11-06.json").exists()
    finally:
        lock.unlink()


def _lock(store: Store, date: str, **held) -> None:
    store.write_json(f"locks/{date}.lock", {"since": time.time(), **held})


@pytest.mark.parametrize("where", ["local", "object store"])
def test_locks_recover_only_from_runs_that_are_gone(where, tmp_path, s3_server, caplog):
    from tasks.core.errors import UserError
    from tasks.nightly.history import DateLock

    store = Store(str(tmp_path) if where == "local" else s3_server("nightly"))
    here = platform.node()
    alive = os.getppid()  # a live process of this host (not this one: its own ended runs are told apart)
    running = {"owner": f"{here}:{alive}:1", "host": here, "pid": alive, "lasts": 600}
    elsewhere = {"owner": "other-host:4242:1", "host": "other-host", "pid": 4242, "lasts": 600}
    _lock(store, "d1", **running)  # alive on this host: in progress
    with pytest.raises(UserError, match=r"in progress .*stale after 0\.2 h"):
        DateLock(store, "d1", 900).__enter__()
    _lock(store, "d2", **elsewhere)  # another host, younger than its run can last: in progress
    with pytest.raises(UserError, match="in progress"):
        DateLock(store, "d2", 900).__enter__()
    caplog.set_level("INFO", logger="mlab")
    caplog.clear()
    _lock(store, "d3", **{**elsewhere, "since": time.time() - 601})  # older than its run can last: stale
    with DateLock(store, "d3", 900):
        assert store.read_json("locks/d3.lock")["lasts"] == 900  # the new holder's own lifetime
    said = caplog.text
    caplog.clear()
    assert "taking over the lock of d3: it is 0.2 h old, longer than its run can last (0.2 h)" in said
    _lock(store, "d4", owner=f"{here}:{dead_pid()}:1", host=here)  # this host, process gone (earlier format)
    with DateLock(store, "d4"):
        pass
    assert "taking over the lock of d4: its run (PID" in caplog.text
    assert not store.exists("locks/d4.lock")


def test_a_lock_lasts_as_long_as_the_study_can_run():
    from tasks.nightly.history import LOCK_STALE_SECONDS
    from tasks.nightly.night import LOCK_FACTOR, LOCK_SLACK_S, NightSettings, lock_lifetime
    from tasks.study.estimate import estimate_seconds
    from tasks.study.loading import load_config
    from tasks.study.plan import make_plan

    plan = make_plan(load_config("nightly"))
    expected = LOCK_FACTOR * estimate_seconds(plan, 2) + LOCK_SLACK_S
    assert lock_lifetime(NightSettings(config="nightly", num_cpus=2)) == pytest.approx(expected)
    assert lock_lifetime(NightSettings(config="no/such.yaml")) == LOCK_STALE_SECONDS


def test_damaged_history_is_an_error_and_left_alone(nights, capsys):
    root, _, _, _ = nights
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


def test_compare_tests_the_previous_night_and_shows_the_rolling_median():
    def night(date: str, scale: float) -> pd.DataFrame:
        seeds = [scale * (1 + i / 100) for i in range(8)]
        return headline_frame([Headline("in_range_rmse", "mlp", scale, 0, 0, 8, "lower", seeds)], date).assign(
            status="ok"
        )

    history = pd.concat([night("2026-01-01", 1.0), night("2026-01-02", 2.0), night("2026-01-03", 1.0)])
    row = compare(night("2026-01-04", 1.0), history, 0.1, 2).iloc[0]
    assert row["prev_date"] == "2026-01-03" and row["verdict"] == "no change" and row["p_value"] == 1.0
    assert row["rolling_median"] == 1.5 and row["change_vs_median"] == pytest.approx(-1 / 3)  # shown, not tested
    worse = compare(night("2026-01-04", 3.0), history, 0.1, 2).iloc[0]
    assert worse["verdict"] == "regression" and worse["change_vs_prev"] == pytest.approx(2.0)
    first = compare(night("2026-01-01", 1.0), history.iloc[0:0], 0.1, 7)
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
    assert record["config_changed"] == "" and record["outcome"] == "ok"  # other seeds: judged, as seed noise
    summary = (root / "2026-02-02" / "summary.md").read_text()
    table = summary.split("## All headline metrics", 1)[1]
    tested = [line for line in table.splitlines() if "rank-sum" in line or "Fisher exact" in line]
    assert len(tested) >= 5  # every headline was tested, with its p-value, none flagged
