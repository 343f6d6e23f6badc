"""One run at a time in a study folder: a second run refuses while the first lives; a run
that is gone is taken over, after what its Ray left running has ended (real processes)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import write_study

from tasks.cluster.leftovers import WORKER_LOG, processes_using, session_pattern, wait_for_leftovers
from tasks.core.errors import UserError
from tasks.store.folder import run_lock
from tasks.store.locks import STALE_BEATS, Lock, stale
from tasks.store.outputs import open_output
from tasks.store.storage import Store
from workflows.run import main


def test_a_second_run_into_a_busy_folder_refuses_in_one_line(tmp_path, capsys):
    out = tmp_path / "out"
    config = str(write_study(tmp_path, {"training.steps": 5, "training.log_every": 5}))
    with run_lock(open_output(str(out))):  # a live run of this process holds the folder
        assert main(["--config", config, "--out", str(out)]) == 2
    said = capsys.readouterr().err
    err = [line for line in said.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and err[0].startswith(f"error: another run of a study in {out} is in progress"), said
    assert "Traceback" not in said and "delete it only if that run is gone" in err[0]
    assert not (out / "run.lock").exists()  # released by its holder
    assert not list(out.rglob("_manifest.json"))  # the refused run wrote nothing


def worker_holding_log(session: Path, seconds: float) -> subprocess.Popen:
    """A process that, like a Ray task worker of `session`, holds its worker log open."""
    log = Path(f"{session}{WORKER_LOG}abc_1.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    code = f"import time; f = open({str(log)!r}, 'a'); print('up', flush=True); time.sleep({seconds})"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "up\n"
    return proc


def test_a_killed_runs_ray_workers_are_waited_for(tmp_path, caplog):
    caplog.set_level("INFO", logger="mlab")
    session = tmp_path / "session_2026-12-01_00-00-00_000000_4242"
    proc = worker_holding_log(session, 1.5)
    assert processes_using(session_pattern(str(session), None)) == [proc.pid]
    assert processes_using(session_pattern(None, 4242)) == [proc.pid]  # killed before it recorded its session
    assert processes_using(session_pattern(None, 4243)) == []
    began = time.monotonic()
    wait_for_leftovers({"host": "other-host", "pid": 4242, "ray_session": str(session)}, "OUT")  # not here: no wait
    assert time.monotonic() - began < 0.5 and proc.poll() is None
    wait_for_leftovers({"host": platform.node(), "pid": 4242, "ray_session": str(session)}, "OUT")
    # it waited for the log's holder to let go (the process may take a moment more to exit:
    # on a busy machine poll() still said "running" right after its files were closed)
    assert time.monotonic() - began >= 1.0 and processes_using(session_pattern(str(session), None)) == []
    proc.wait(timeout=30)
    assert "waiting for 1 process(es) of the earlier run's Ray to end (OUT)" in caplog.text

    stuck = worker_holding_log(session, 60)
    try:
        with pytest.raises(UserError, match=rf"still running after 1 s \(PIDs {stuck.pid}\) .* end them"):
            wait_for_leftovers({"host": platform.node(), "ray_session": str(session)}, "OUT", timeout=1.0)
    finally:
        stuck.kill()
        stuck.wait()


def test_a_renewed_lock_lives_as_long_as_its_run_and_goes_stale_without_renewal(tmp_path):
    here, now = platform.node(), time.time()
    elsewhere = {"host": "other-host", "pid": 4242, "lasts": 60, "heartbeat_s": 60}
    assert stale({**elsewhere, "since": now - 86400, "beat": now - 60}, now, here) is None  # a day, renewed
    silent = {**elsewhere, "since": now - 86400, "beat": now - STALE_BEATS * 60 - 1}
    assert "has not renewed it for 10 min" in stale(silent, now, here)
    store = Store(str(tmp_path))
    with Lock(store, "run.lock", "run", "OUT", "out", heartbeat_s=0.05):  # renewed by its holder's thread
        first = store.read_json("run.lock")
        time.sleep(0.5)
        assert store.read_json("run.lock")["beat"] > first["beat"]
    assert not store.exists("run.lock")


def test_a_lock_left_by_an_ended_run_of_this_process_is_taken_over(tmp_path, caplog):
    """A run whose store stopped answering cannot remove its lock; the next run in the same
    process (an API user, a notebook) takes it over at once, without waiting on its own Ray."""
    caplog.set_level("INFO", logger="mlab")
    store = Store(str(tmp_path))
    here = platform.node()
    store.write_json(
        "run.lock", {"owner": f"{here}:{os.getpid()}:1.0", "host": here, "pid": os.getpid(), "since": time.time()}
    )
    began = time.monotonic()
    with run_lock(store) as lock:
        assert lock.previous is not None
        wait_for_leftovers(lock.previous, "OUT")  # returns at once: this process's Ray is its own
        with pytest.raises(UserError, match="is in progress"):  # while held, it is held
            run_lock(store).__enter__()
    assert time.monotonic() - began < 5
    assert "an earlier run in this process ended without removing it" in caplog.text
