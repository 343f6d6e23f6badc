"""Nothing lost, nothing confusing: real processes killed at several points (driver by SIGTERM
and SIGINT, a training worker by SIGKILL), corrupted files, a full disk, divergence."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from support import read_results, skip_unless_ci, write_study

from tasks.store.storage import Store, file_info, listed_files
from workflows.run import main

ROOT = Path(__file__).resolve().parent.parent
RUN = [sys.executable, str(ROOT / "workflows" / "run.py")]
# Columns that say which bundle a model was trained in: a resumed run may re-bundle the rest.
BUNDLING = ["bundle_id", "bundle_size", "bundle_seconds", "bundle_model_steps_per_s", "device"]


def study(tmp_path: Path, name: str = "resume") -> Path:
    """Smoke-sized study with enough bundles and steps to interrupt it mid-run."""
    overrides = {"seeds": [0, 1, 2], "training.steps": 2000, "training.log_every": 500, "training.bundle_size": 1}
    return write_study(tmp_path, overrides, name)


def results(out: Path) -> dict[str, pd.DataFrame]:
    tables = {n: read_results(out, n) for n in ("metrics", "curves", "diagonal")}
    tables["metrics"] = tables["metrics"].drop(columns=[c for c in BUNDLING if c in tables["metrics"]])
    return tables


def assert_same_results(a: Path, b: Path) -> None:
    ra, rb = results(a), results(b)
    for name in ra:
        pd.testing.assert_frame_equal(ra[name], rb[name], check_exact=True, obj=name)


def assert_nothing_half_written(out: Path) -> None:
    """Every file a manifest lists is whole; anything else is only an invisible temporary."""
    store = Store(str(out))
    for manifest_path in out.rglob("_manifest.json"):
        for f in listed_files(json.loads(manifest_path.read_text())):
            store.read_verified(f["path"], file_info(f))


@pytest.fixture(scope="module")
def reference(ray_session, tmp_path_factory):
    """The uninterrupted run every resumed run must reproduce exactly."""
    tmp = tmp_path_factory.mktemp("reference")
    out = tmp / "out"
    assert main(["--config", str(study(tmp)), "--out", str(out)]) == 0
    return out


def wait_for(predicate, timeout: float = 240.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process ended early with {proc.returncode}: {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("sig", "when"),
    [(signal.SIGTERM, "training"), (signal.SIGINT, "data")],
    ids=["sigterm-during-training", "ctrl-c-during-data"],
)
def test_driver_interrupted_then_resumed_exactly(reference, tmp_path, capsys, sig, when):
    out = tmp_path / "out"
    env = {**os.environ, "RAY_ADDRESS": ""}  # its own local Ray, like a user's laptop run
    env.pop("RAY_ADDRESS")
    proc = subprocess.Popen(
        [*RUN, "--config", str(study(tmp_path)), "--out", str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if when == "data":
        wait_for(lambda: (out / "datasets").exists(), proc=proc)
    else:
        wait_for(lambda: list(out.glob("models/*/_manifest.json")), proc=proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err and "Traceback" not in err
    assert not (out / "results" / "_manifest.json").exists()
    assert_nothing_half_written(out)
    done_before = len(list(out.glob("models/*/_manifest.json")))

    capsys.readouterr()  # the rerun: in this process, on the session's Ray (any later run resumes)
    assert main(["--config", str(study(tmp_path)), "--out", str(out)]) == 0
    assert f"{6 - done_before} of 6 models to train" in capsys.readouterr().err  # only the unfinished ones
    assert_same_results(reference, out)


def _processes() -> dict[int, tuple[bytes, int]]:
    """This machine's processes: PID → (command line, parent PID)."""
    procs = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
                parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            procs[int(proc.name)] = (cmdline, parent)
    return procs


def _training_worker_pids() -> list[int]:
    """Training workers of this test's own Ray (children of its raylet): another Ray on the
    machine, a long study say, is never touched."""
    import ray

    session = ray._private.worker._global_node.get_session_dir_path().encode()
    procs = _processes()
    raylets = {pid for pid, (cmd, _) in procs.items() if b"raylet" in cmd and session in cmd}
    tasks = (b"_run_bundle", b"_train_bundle")  # a bundle task (train, evaluate, collect), or training alone
    return [pid for pid, (cmd, parent) in procs.items() if any(t in cmd for t in tasks) and parent in raylets]


def test_training_worker_sigkilled_task_is_retried_exactly_once(reference, tmp_path):
    out = tmp_path / "out"
    result: dict[str, int] = {}
    runner = threading.Thread(
        target=lambda: result.update(rc=main(["--config", str(study(tmp_path)), "--out", str(out)]))
    )
    runner.start()
    wait_for(lambda: list(out.glob("models/*/_manifest.json")) and _training_worker_pids())
    victims = _training_worker_pids()
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    runner.join(timeout=300)
    assert victims and result["rc"] == 0
    assert_same_results(reference, out)
    bundles = [json.loads(p.read_text()) for p in out.glob("models/*/_manifest.json")]
    assert len(bundles) == 6 and len({b["bundle_id"] for b in bundles}) == 6


def test_corrupted_weights_are_reported_then_retrained(reference, tmp_path, capsys):
    out = tmp_path / "out"
    config = str(study(tmp_path))
    assert main(["--config", config, "--out", str(out)]) == 0
    victim = sorted(out.glob("models/*/weights.npz"))[0]
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # same size, different bytes: only the checksum can tell
    victim.write_bytes(bytes(raw))
    for d in (out / "evals").iterdir():  # force re-evaluation, which reads the weights
        (d / "_manifest.json").unlink()
    capsys.readouterr()
    assert main(["--config", config, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"corrupted file {victim}" in err and "rerun to regenerate" in err and "Traceback" not in err
    assert not (victim.parent / "_manifest.json").exists()  # the bundle is no longer trusted
    assert main(["--config", config, "--out", str(out)]) == 0
    assert "1 of 6 models to train" in capsys.readouterr().err
    assert_same_results(reference, out)


def test_corrupted_shard_is_regenerated_not_trained_on(reference, tmp_path, capsys):
    out = tmp_path / "out"
    config = str(study(tmp_path))
    assert main(["--config", config, "--out", str(out)]) == 0
    manifest = json.loads(next(out.glob("models/*/_manifest.json")).read_text())
    shard = sorted((out / "datasets" / manifest["members"][0]["train_dataset"]).glob("shard-*.parquet"))[0]
    raw = bytearray(shard.read_bytes())
    raw[100] ^= 0xFF
    shard.write_bytes(bytes(raw))
    for d in (out / "models").iterdir():  # force retraining, which reads the shards
        (d / "_manifest.json").unlink()
    capsys.readouterr()
    assert main(["--config", config, "--out", str(out)]) == 2
    assert f"corrupted file {shard}" in capsys.readouterr().err
    assert main(["--config", config, "--out", str(out)]) == 0  # regenerated (deterministic), then trained
    assert_same_results(reference, out)


def test_divergence_is_recorded_and_reported_not_a_crash(ray_session, tmp_path):
    path = write_study(tmp_path, {"training.optimizer": "sgd", "training.learning_rate": 1e6}, "diverge")
    out = tmp_path / "out"
    assert main(["--config", str(path), "--out", str(out)]) == 0
    models = read_results(out, "models")
    assert models["diverged"].all() and (models["diverged_step"] >= 0).all()
    assert "Diverged models" in (out / "report" / "summary.md").read_text()
    metrics = read_results(out, "metrics")
    assert len(metrics) == len(models) * 6 and not metrics["success"].any()


@contextlib.contextmanager
def tmpfs(directory: Path, size: str):
    """A real filesystem of `size` (tmpfs), so writes fail with ENOSPC like a full disk."""
    directory.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)], capture_output=True)
    if proc.returncode != 0:
        skip_unless_ci(f"cannot mount a small tmpfs here (needs CAP_SYS_ADMIN): {proc.stderr.decode().strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


@pytest.fixture
def small_disk(tmp_path):
    """A real 3 MiB filesystem."""
    with tmpfs(tmp_path / "disk", "3m") as mnt:
        yield mnt


def fill(path: Path) -> None:
    """Write zeros to `path` until its filesystem is full, whichever call finds it full: the
    last write, closing the file, or opening it (a fresh-clone check once failed here with
    ENOSPC raised on the line that opens and closes it; its cause was not found, and what the
    tests check is the study on a full disk, not this helper)."""
    try:
        with open(path, "wb", buffering=0) as f:
            while True:
                f.write(b"\0" * 65536)
    except OSError:
        pass


def test_disk_full_mid_run_is_one_clear_error_and_loses_nothing(ray_session, small_disk, capsys):
    out = small_disk / "out"
    ballast = small_disk / "ballast"
    ballast.write_bytes(b"\0" * (3 * 1024 * 1024 - 700 * 1024))  # leave ~700 KiB: datasets fit, the rest not
    rc = main(["--config", "smoke", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "No space left on device" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 or all(not line.startswith("  File") for line in err.splitlines())
    assert_nothing_half_written(out)
    complete_before = {p.parent.name for p in out.rglob("_manifest.json")}
    ballast.unlink()  # space freed: the rerun reuses everything complete and finishes
    assert main(["--config", "smoke", "--out", str(out)]) == 0
    assert complete_before <= {p.parent.name for p in out.rglob("_manifest.json")}
    assert (out / "report" / "index.html").exists()


def test_weights_never_unpickled(tmp_path):
    store = Store(str(tmp_path))
    np.save(tmp_path / "evil.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.write(tmp_path / "evil.npy", "W.npy")
    (tmp_path / "weights.npz").write_bytes(buf.getvalue())
    from tasks.core.errors import CorruptArtifactError

    with pytest.raises(CorruptArtifactError, match="unreadable weights"):
        store.read_npz("weights.npz")


def snapshot(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_an_output_folder_holds_one_study(reference, tmp_path, capsys):
    """Another study (another name, or a setting that changes results) is refused in one line
    naming both, and the folder is left as it was; the same study with only packing, words or
    a key an earlier version did not write is the same study; --replace takes the folder over."""
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    before = snapshot(out)
    config = str(study(tmp_path))
    capsys.readouterr()
    for args, words in [
        (["--config", "smoke"], "holds the study 'resume'; this run is the study 'smoke', which differs (name"),
        (["--config", config, "--set", "training.steps=1000"], "which differs (training.steps 2000 → 1000)"),
        (["--config", config, "--set", "seeds=[0, 1, 2, 3]"], "which differs (seeds [0, 1, 2] → [0, 1, 2, 3])"),
    ]:
        assert main([*args, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and words in err and "pass --replace to replace it" in err, err
        assert snapshot(out) == before  # nothing written
    stored = yaml.safe_load((out / "config.yaml").read_text())
    del stored["evaluation"]["probe_rows"], stored["training"]["epsilon"]  # as an earlier version wrote it
    (out / "config.yaml").write_text(yaml.safe_dump(stored))
    same = ["--set", "training.bundle_size=2", "--set", "description=reworded", "--set", "training.steps=2e3"]
    assert main(["--config", config, *same, "--out", str(out)]) == 0
    assert "results and report are current" in capsys.readouterr().err  # the same study: nothing to do
    assert main(["--config", "smoke", "--out", str(out), "--replace"]) == 0
    said = capsys.readouterr().err
    assert "[out] replacing the study 'resume'" in said and "with 'smoke' (--replace)" in said
    assert yaml.safe_load((out / "config.yaml").read_text())["name"] == "smoke"
    assert set(read_results(out, "models")["seed"]) == {0, 1}  # the folder now holds smoke's results


# ---- faults mid-run: every rerun's metrics equal the uninterrupted run's exactly -----------------


def test_driver_sigkilled_during_collection_then_rerun_exactly(reference, tmp_path, capsys):
    """SIGKILL: no handler runs; parts are being written, and the driver's own Ray's task
    workers outlive it by seconds (still writing parts): the rerun takes over the folder's
    lock and waits for them before it writes (tests/test_run_lock.py)."""
    out = tmp_path / "out"
    config = str(study(tmp_path))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    command = [*RUN, "--config", config, "--out", str(out)]
    with open(tmp_path / "stderr", "w") as err:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=err)
        wait_for(lambda: list(out.glob("results/metrics/part-*.parquet")) or proc.poll() is not None)
        assert proc.poll() is None, (tmp_path / "stderr").read_text()[-2000:]
        proc.kill()
        proc.wait(timeout=60)
    assert not (out / "results" / "_manifest.json").exists()  # collection had not finished
    assert_nothing_half_written(out)
    assert main(["--config", config, "--out", str(out)]) == 0
    said = capsys.readouterr().err
    assert "Traceback" not in said and f"taking over the lock of {out}: its run (PID {proc.pid}" in said
    assert_same_results(reference, out)


def test_disk_full_during_training_then_rerun_exactly(reference, tmp_path, capsys):
    """The disk fills while bundles train: one line, nothing incomplete counts as complete,
    and once space is freed the rerun trains only what is missing."""
    config = str(study(tmp_path))
    with tmpfs(tmp_path / "disk", "64m") as disk:
        out = disk / "out"
        result: dict[str, int] = {}
        runner = threading.Thread(target=lambda: result.update(rc=main(["--config", config, "--out", str(out)])))
        runner.start()
        wait_for(lambda: list(out.glob("models/*/_manifest.json")))  # training has written its first bundle
        fill(disk / "ballast")
        runner.join(timeout=300)
        err = capsys.readouterr().err.strip()
        assert result["rc"] == 2 and "No space left on device" in err and "Traceback" not in err, err
        assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1, err
        assert_nothing_half_written(out)
        trained = len(list(out.glob("models/*/_manifest.json")))
        assert 1 <= trained < 6 and not (out / "results" / "_manifest.json").exists()
        (disk / "ballast").unlink(missing_ok=True)  # space freed
        assert main(["--config", config, "--out", str(out)]) == 0
        assert to_train(capsys.readouterr().err) <= 6 - trained  # (a task still in flight may finish meanwhile)
        assert_same_results(reference, out)


def to_train(said: str) -> int:
    """N of '[train] N of 6 models to train'."""
    return int(re.search(r"(\d+) of \d+ models to train", said).group(1))


@pytest.fixture
def stoppable_s3():
    """A loopback S3 server of this test's own (moto) that can be stopped and started again on
    the same port, keeping what was written (moto keeps its buckets in this process)."""
    import socket

    import boto3
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    servers = [ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)]
    servers[0].start()
    client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1")
    client.create_bucket(Bucket="faults")

    class Control:
        uri = f"s3://faults/lab?endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"

        @staticmethod
        def keys(prefix: str) -> list[str]:
            pages = client.get_paginator("list_objects_v2").paginate(Bucket="faults", Prefix=prefix)
            return [o["Key"] for page in pages for o in page.get("Contents", [])]

        @staticmethod
        def stop() -> None:
            servers[-1].stop()

        @staticmethod
        def start() -> None:
            servers.append(ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False))
            servers[-1].start()

    yield Control
    servers[-1].stop()


def store_results(uri: str) -> dict[str, pd.DataFrame]:
    """results() of a study in an object store, read through the lab's own reader."""
    from support import SORT_KEYS

    from tasks.pipeline import read_results as read_store
    from tasks.store.storage import Store as Store_

    tables = {}
    for name in ("metrics", "curves", "diagonal"):
        frame = read_store(Store_(uri), name).sort_values(SORT_KEYS[name], kind="stable").reset_index(drop=True)
        tables[name] = frame.drop(columns=[c for c in BUNDLING if c in frame]) if name == "metrics" else frame
    return tables


def test_object_store_stopped_mid_run_then_rerun_resumes_exactly(reference, tmp_path, stoppable_s3, capsys):
    config = str(study(tmp_path))
    result: dict[str, int] = {}
    args = ["--config", config, "--out", stoppable_s3.uri]
    runner = threading.Thread(target=lambda: result.update(rc=main(args)))
    runner.start()
    wait_for(lambda: [k for k in stoppable_s3.keys("lab/models/") if k.rsplit("/", 1)[-1] == "_manifest.json"])
    stoppable_s3.stop()
    runner.join(timeout=300)
    err = capsys.readouterr().err.strip()
    assert result["rc"] == 2 and "cannot connect to the object store" in err and "Traceback" not in err, err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1, err
    stoppable_s3.start()
    trained = len([k for k in stoppable_s3.keys("lab/models/") if k.rsplit("/", 1)[-1] == "_manifest.json"])
    assert main(args) == 0
    assert to_train(capsys.readouterr().err) <= 6 - trained < 6  # what was written is reused
    expected = results(reference)
    for name, frame in store_results(stoppable_s3.uri).items():
        pd.testing.assert_frame_equal(expected[name], frame, check_exact=True, obj=name)


@pytest.mark.parametrize("victim", ["results/metrics/part-*.parquet", "models/*/weights.npz"])
def test_truncated_part_or_bundle_file_is_detected_and_rebuilt(reference, tmp_path, capsys, victim):
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    path = sorted(out.glob(victim))[0]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # its manifest records the full size
    assert main(["--config", str(study(tmp_path)), "--out", str(out)]) == 0
    retrained = 1 if victim.startswith("models") else 0
    assert f"{retrained} of 6 models to train" in capsys.readouterr().err
    assert_nothing_half_written(out)  # every listed file whole again, checksums verified
    assert_same_results(reference, out)


def flip_a_byte(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # same size: only the checksum can tell
    path.write_bytes(bytes(raw))


def test_a_damaged_summary_is_detected_by_its_checksum_and_rebuilt_by_the_rerun(reference, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    victim = sorted(out.glob("results/summary/*.parquet"))[0]
    flip_a_byte(victim)
    assert main(["--config", str(study(tmp_path)), "--out", str(out)]) == 0  # not an error forever after
    said = capsys.readouterr().err
    assert f"[reuse] corrupted file {victim}" in said and "the results are rebuilt" in said
    assert "0 of 6 models to train" in said
    assert_nothing_half_written(out)
    assert_same_results(reference, out)


def test_a_damaged_part_found_by_a_reader_is_rebuilt_by_the_next_run(reference, tmp_path, capsys):
    from tasks.api import open_study
    from tasks.core.errors import CorruptArtifactError

    out = tmp_path / "out"
    shutil.copytree(reference, out)
    victim = sorted(out.glob("results/metrics/part-*.parquet"))[0]
    flip_a_byte(victim)
    with pytest.raises(CorruptArtifactError, match=r"corrupted file .*marked .*/results incomplete — rerun"):
        open_study(str(out)).metrics()
    assert not (out / "results" / "_manifest.json").exists()  # the next run cannot take it for current
    assert main(["--config", str(study(tmp_path)), "--out", str(out)]) == 0
    assert "0 of 6 models to train" in capsys.readouterr().err
    assert_nothing_half_written(out)
    assert_same_results(reference, out)


# ---- mid-bundle: periodic checkpoints, resumed bit for bit ----------------------------------------


def long_study(tmp_path: Path, name: str = "long") -> Path:
    """Two one-model bundles of 6 compiled chunks, each saving its state at every chunk boundary
    (resources.checkpoint_minutes: every ~0.1 s). A chunk takes 0.2–1 s by host, longer than
    the 100 ms Ray's own shutdown leaves a worker between SIGTERM and SIGKILL, as a large
    bundle's does; the whole bundle can take less than a driver needs to act on a SIGTERM,
    so a test that stops one mid-bundle holds its workers still meanwhile."""
    overrides = {
        "seeds": [0],
        "training.steps": 60_000,
        "training.log_every": 10_000,
        "training.bundle_size": 1,
        "resources.checkpoint_minutes": 0.002,
    }
    return write_study(tmp_path, overrides, name)


@pytest.fixture(scope="module")
def long_reference(ray_session, tmp_path_factory):
    """The uninterrupted long study every mid-bundle kill must reproduce exactly."""
    tmp = tmp_path_factory.mktemp("long-reference")
    out = tmp / "out"
    assert main(["--config", str(long_study(tmp)), "--out", str(out)]) == 0
    return out


def _training_workers_under(root: int) -> list[int]:
    """Training workers descended from process `root` (a driver and the Ray it started)."""
    procs = _processes()

    def under_root(pid: int) -> bool:
        while pid > 1:
            pid = procs.get(pid, (b"", 0))[1]
            if pid == root:
                return True
        return False

    prefixes = (b"ray::_run_bundle", b"ray::_train_bundle")
    return [pid for pid, (title, _) in procs.items() if title.startswith(prefixes) and under_root(pid)]


def _sigterm_pending(pid: int) -> bool:
    """A SIGTERM was sent to `pid` and waits for it to run again (or it has ended)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    pending = [int(line.split()[1], 16) for line in status.splitlines() if line.startswith(("ShdPnd:", "SigPnd:"))]
    return any(mask & (1 << (signal.SIGTERM - 1)) for mask in pending)


def checkpointed(out: Path) -> list[int]:
    """Steps of the checkpoints bundles still training have saved."""
    steps = []
    for record in out.glob("models/*/checkpoint/checkpoint.json"):
        with contextlib.suppress(OSError, ValueError):
            steps.append(json.loads(record.read_text())["step"])
    return steps


def assert_resumed_exactly(reference: Path, out: Path, saved_at: int) -> None:
    """Every bundle complete without its checkpoints, one resumed at or after `saved_at`, and
    the study's tables (probes too) equal to the uninterrupted run's."""
    bundles = [json.loads(p.read_text()) for p in out.glob("models/*/_manifest.json")]
    assert len(bundles) == 2 and not list(out.glob("models/*/checkpoint"))
    assert max(b["resumed_at"] for b in bundles) >= saved_at > 0
    assert all(b["resumed_at"] < b["training"]["steps"] for b in bundles)
    assert_same_results(reference, out)
    pd.testing.assert_frame_equal(read_results(reference, "probes"), read_results(out, "probes"), check_exact=True)


def test_training_worker_sigkilled_mid_bundle_resumes_from_its_checkpoint(long_reference, tmp_path):
    """The worker dies (SIGKILL: nothing runs) after a checkpoint; Ray retries the task, which
    resumes from the saved state, not from step 0."""
    out = tmp_path / "out"
    result: dict[str, int] = {}
    runner = threading.Thread(
        target=lambda: result.update(rc=main(["--config", str(long_study(tmp_path)), "--out", str(out)]))
    )
    runner.start()
    wait_for(lambda: checkpointed(out) and _training_worker_pids())
    victims = _training_worker_pids()
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    saved_at = min(checkpointed(out))
    runner.join(timeout=600)
    assert victims and result["rc"] == 0
    assert_resumed_exactly(long_reference, out, saved_at)


def test_driver_sigtermed_mid_bundle_then_rerun_resumes_from_the_checkpoint(long_reference, tmp_path):
    """The working period ends (the driver is stopped, its own Ray with it) mid-bundle; the next
    run resumes each bundle from its saved state."""
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    command = [*RUN, "--config", str(long_study(tmp_path)), "--out", str(out)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: checkpointed(out) and _training_workers_under(proc.pid), proc=proc)
    # Held still while the stop travels (driver → its Ray → the workers), so it reaches them
    # mid-training on a host of any speed: a fast one trains the rest of this small bundle in
    # less time than the driver takes to act on its SIGTERM.
    held = _training_workers_under(proc.pid)
    for pid in held:
        os.kill(pid, signal.SIGSTOP)
    try:
        proc.send_signal(signal.SIGTERM)
        wait_for(lambda: all(_sigterm_pending(pid) for pid in held), timeout=60, proc=proc)
    finally:
        for pid in held:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err[-2000:]
    saved_at = min(checkpointed(out))
    assert not list(out.glob("models/*/_manifest.json"))  # stopped mid-bundle
    records = [json.loads(p.read_text()) for p in out.glob("models/*/checkpoint/checkpoint.json")]
    assert any(r["on_stop"] for r in records), records  # the stop saved where training was, not Ray's 100 ms
    assert_nothing_half_written(out)
    assert main(command[2:]) == 0  # the next run: in this process, on the session's Ray
    assert_resumed_exactly(long_reference, out, saved_at)
