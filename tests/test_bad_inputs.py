"""The bad-input table (docs/operate/reliability.md), row by row, through the real entry point: one clear line
naming the problem, exit code 2, no traceback, and nothing previously written lost."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from support import ROOT, smoke_raw

from workflows.run import main

# (row of the docs' bad-input table, config as a dict or raw text (None: smoke), file suffix, words in the message)
ROWS = [
    ("unknown key", smoke_raw({"trainig": {"steps": 5}}), ".yaml", "'trainig': unknown key"),
    ("wrong type", smoke_raw({"training.steps": "many"}), ".yaml", "'training.steps': expected an integer"),
    ("empty list", smoke_raw({"seeds": []}), ".yaml", "'seeds': must not be empty"),
    ("lo ≥ hi", smoke_raw({"train_ranges": [[2, 1]]}), ".yaml", "'train_ranges[0]': needs lo < hi"),
    ("negative size", smoke_raw({"data.train_size": -10}), ".yaml", "'data.train_size': must be ≥ 1"),
    ("zero size", smoke_raw({"evaluation.size": 0}), ".yaml", "'evaluation.size': must be ≥ 1"),
    (
        "log-space model on a non-positive range",
        smoke_raw({"architectures": [{"arch": "log_mlp"}]}),
        ".yaml",
        "log_mlp needs strictly positive inputs",
    ),
    ("unknown architecture", smoke_raw({"architectures": [{"arch": "resnet"}]}), ".yaml", "unknown value 'resnet'"),
    ("steps = 0", smoke_raw({"training.steps": 0}), ".yaml", "'training.steps': must be ≥ 1"),
    ("batch larger than the dataset", smoke_raw({"training.batch_size": 10_000}), ".yaml", "larger than the dataset"),
    ("config not valid YAML", "seeds: [0, 1\ndata: {", ".yaml", "is not valid YAML"),
    ("config not valid TOML", "seeds = [0, 1\n", ".toml", "is not valid TOML"),
    (
        "log_every larger than steps",
        smoke_raw({"training.steps": 50}),
        ".yaml",
        "'training.log_every': a curve point every 100 steps never comes in 50 steps",
    ),
    (
        "a study estimated over 24 h, without --yes",
        smoke_raw({"training.steps": 10**11, "training.log_every": 1000}),
        ".yaml",
        "CPUs), more than 24 h: pass --yes to run it anyway",
    ),
    (
        "config executes nothing",
        "seeds: !!python/object/apply:os.system ['echo pwned']\n",
        ".yaml",
        "is not valid YAML",
    ),
]


@pytest.fixture
def earlier_output(tmp_path):
    """An existing lab output with content that must survive a failed run untouched."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "lab.json").write_text('{"kind": "multiplication-lab output"}')
    (out / "results").mkdir()
    (out / "results" / "metrics.parquet").write_bytes(b"earlier results")
    return out


def snapshot(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def run_and_check(args: list[str], words: str, capsys, keep: Path | None = None) -> None:
    before = snapshot(keep) if keep else None
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ") and words in err, err
    assert "Traceback" not in err
    if keep:
        assert snapshot(keep) == before


@pytest.mark.parametrize(("row", "config", "suffix", "words"), ROWS, ids=[r[0] for r in ROWS])
def test_bad_config(row, config, suffix, words, tmp_path, earlier_output, capsys):
    path = tmp_path / f"bad{suffix}"
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    run_and_check(["--config", str(path), "--out", str(earlier_output)], words, capsys, keep=earlier_output)


def test_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    run_and_check(["--config", "smoke", "--out", str(blocker / "out")], "is not writable", capsys, keep=tmp_path)


def test_out_is_an_unrelated_directory(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    run_and_check(["--config", "smoke", "--out", str(tmp_path)], "not a lab output directory", capsys, keep=tmp_path)


def test_unknown_uri_scheme(capsys):
    run_and_check(["--config", "smoke", "--out", "ftp://host/out"], "unknown URI scheme 'ftp://'", capsys)


def test_missing_config_file_and_unknown_name(tmp_path, capsys):
    run_and_check(["--config", str(tmp_path / "nope.yaml")], "config file not found", capsys)
    run_and_check(["--config", "nosuchpreset"], "no config named 'nosuchpreset'", capsys)


def test_path_traversal_in_config_name_is_refused(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(smoke_raw({"name": "../../etc"})))
    run_and_check(["--config", str(path), "--out", str(tmp_path / "o")], "'name': use letters", capsys)


def test_local_dashboard_binds_to_localhost(monkeypatch):
    import ray

    from tasks.cluster import runtime

    seen = {}

    def init(**kwargs):  # what ray.init was asked, answered like ray.init (a context naming its session)
        seen.update(kwargs)
        return SimpleNamespace(address_info={"session_dir": "/tmp/ray/session_x_1"})

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(runtime, "_size", lambda: "")
    monkeypatch.setattr(runtime, "_session_dir", "")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    runtime.connect()
    assert seen["dashboard_host"] == "127.0.0.1"
    assert seen["address"] == "local"  # a Ray of the study's own, whatever else runs on this machine
    assert runtime._session_dir == "/tmp/ray/session_x_1"  # what a run taking over after a SIGKILL waits on
    monkeypatch.setattr(runtime, "_owned", False)


def test_out_is_a_file(tmp_path, capsys):
    target = tmp_path / "results.csv"
    target.write_text("a,b\n")
    run_and_check(["--config", "smoke", "--out", str(target)], "is a file, not a directory", capsys, keep=tmp_path)


def test_impossible_gpu_share(tmp_path, capsys):
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(smoke_raw({"resources": {"train_gpus": 1.5}})))
    run_and_check(["--config", str(path), "--out", str(tmp_path / "o")], "'resources.train_gpus'", capsys)


def test_unreachable_ray_address_fails_fast(tmp_path, capsys):
    started = time.monotonic()
    out = tmp_path / "out"
    run_and_check(["--config", "smoke", "--address", "127.0.0.1:1", "--out", str(out)], "cannot connect to Ray", capsys)
    assert time.monotonic() - started < 10  # refused: a 3 s grace (Ray alone waits minutes)
    assert not out.exists()  # nothing written for a run that could not start


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("training.steps=many", "config error at 'training.steps': expected an integer, got a string 'many'"),
        ("trainig.steps=5", "config error at 'trainig': unknown key"),
        ("training.steps", "--set expects key.path=value"),
        ("seeds.count=3", "--set seeds.count: 'seeds' is not a section"),
        ("training.steps=[1", "--set training.steps: value '[1' is not valid YAML"),
    ],
)
def test_bad_set_override(override, words, capsys):
    run_and_check(["--config", "smoke", "--set", override, "--dry-run"], words, capsys)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _s3(bucket: str, host: str, port: int) -> str:
    return f"s3://{bucket}/lab?endpoint_override={host}:{port}&scheme=http&region=us-east-1"


@pytest.mark.parametrize("command", ["run", "dry-run", "nightly"])
def test_object_store_that_does_not_answer(command, capsys):
    uri = _s3("lab-bucket", "127.0.0.1", _free_port())  # nothing listens there
    check_object_store(command, uri, "cannot reach s3://lab-bucket/lab: cannot connect to the object store", capsys)


@pytest.mark.parametrize("command", ["run", "dry-run", "nightly"])
def test_object_store_bucket_missing(command, s3_server, capsys):
    base = s3_server("x")  # a working server; ask it for a bucket nobody created
    host_port = base.split("endpoint_override=")[1].split("&")[0]
    uri = _s3("no-such-bucket", *host_port.split(":"))
    check_object_store(command, uri, "the bucket 'no-such-bucket' does not exist", capsys)


@pytest.mark.parametrize("command", ["run", "dry-run", "nightly"])
def test_object_store_refuses_credentials(command, s3_auth_server, capsys):
    uri = _s3("lab-bucket", *s3_auth_server)
    check_object_store(command, uri, "access denied", capsys)


def check_object_store(command: str, uri: str, words: str, capsys) -> None:
    from workflows.nightly import main as nightly

    if command == "nightly":
        assert nightly(["--config", "smoke", "--root", uri]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and words in err and "Traceback" not in err, err
        return
    run_and_check(["--config", "smoke", "--out", uri, *(["--dry-run"] if command == "dry-run" else [])], words, capsys)


def test_a_study_over_24_hours_runs_with_yes(tmp_path):
    """--yes is the only difference: the same study starts (it claims its output folder), then Ctrl-C."""
    config = tmp_path / "long.yaml"
    config.write_text(yaml.safe_dump(smoke_raw({"training.steps": 10**11, "training.log_every": 1000})))
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    args = [sys.executable, str(ROOT / "workflows" / "run.py"), "--config", str(config), "--out", str(out), "--yes"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 120
    while not (out / "lab.json").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert (out / "lab.json").exists() and "more than 24 h" not in err.decode(), err.decode()[-2000:]
    assert proc.returncode == 130
