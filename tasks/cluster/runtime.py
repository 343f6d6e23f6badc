"""Connecting the driver to Ray: an existing cluster only when the user names one (--address,
$RAY_ADDRESS), else a local instance of the study's own with its dashboard bound to localhost."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import ray

from tasks.core import logs
from tasks.core.errors import UserError
from tasks.model import plugins

LOG = logs.get("runtime")

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
_owned = False  # True when this process called ray.init (and so must shut down / disconnect)
_said = ""  # what `connect` connected to, said again when asked twice in one run
_session_dir = ""  # the session folder of the Ray this process started (its processes keep files open there)


def worker_env() -> dict[str, str]:
    """Environment for our workers: quiet TF; the project importable even when not installed."""
    env = {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    if (PROJECT_ROOT / "tasks" / "__init__.py").is_file():
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    return env


def job_runtime_env() -> dict:
    """The runtime environment of a Ray connection the lab starts: our worker variables, plus
    the loaded plugins and, where not installed, their code (shipped to every node)."""
    extra = plugins.job_runtime_env()
    return {**extra, "env_vars": {**worker_env(), **extra.get("env_vars", {})}}


def connect(address: str | None = None, num_cpus: int | None = None, verbose: bool = False) -> str:
    """Initialise Ray once per process; returns what we connected to (said on the run's first line).

    Without `address` (or $RAY_ADDRESS) the study starts a Ray instance of its own
    (`address="local"`): it never joins another process's private instance, nor the cluster a
    stale address file in Ray's temp directory names. An existing cluster is used only when the
    user says so: `--address HOST:PORT`, `--address auto` (a `ray start` cluster on this
    machine) or $RAY_ADDRESS (set by `ray job submit`, and by the cluster configs on the head)."""
    global _said
    if ray.is_initialized():
        return _said or "existing Ray session"
    _said = _connect(address, num_cpus, verbose)
    return _said


def _connect(address: str | None, num_cpus: int | None, verbose: bool) -> str:
    common = {
        "logging_level": logging.INFO if verbose else logging.WARNING,
        "log_to_driver": verbose,
        "runtime_env": job_runtime_env(),
    }
    said_by = "--address" if address else "$RAY_ADDRESS"
    address = resolve_address(address)
    global _owned
    _owned = True
    if address:
        if num_cpus is not None:
            _owned = False
            raise UserError(f"--num-cpus sizes a Ray of the study's own; it cannot resize the cluster at {address}")
        try:
            ray.init(address=address, **common)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            _owned = False
            raise UserError(f"cannot connect to Ray at {address}: {' '.join(str(exc).split())[:300]}") from None
        reclaim_signals()
        return f"Ray cluster at {_gcs_address() or address} (given by {said_by}; {_size()})"
    if num_cpus is not None:
        common["num_cpus"] = num_cpus
    global _session_dir
    try:  # never expose the dashboard beyond this machine
        context = ray.init(address="local", dashboard_host="127.0.0.1", **common)
    except (ValueError, RuntimeError, OSError) as exc:
        _owned = False
        # OSError: its temp directory unusable, e.g. too long for its socket paths
        where = " (set RAY_TMPDIR to a short directory for Ray's files)" if isinstance(exc, OSError) else ""
        raise UserError(f"cannot start a local Ray: {' '.join(str(exc).split())[:300]}{where}") from None
    _session_dir = str(context.address_info.get("session_dir") or "")
    reclaim_signals()
    return f"local Ray of this study at {_gcs_address()} ({_size()}; stopped when the study ends)"


CONNECT_TIMEOUT_S = 15.0  # how long an explicit --address may take to answer
REFUSED_GRACE_S = 3.0  # how long it may refuse connections (a head restarting) before the study gives up


def _gcs_address() -> str:
    """HOST:PORT of the Ray instance this process is connected to (public API)."""
    try:
        return ray.get_runtime_context().gcs_address
    except Exception:  # an older Ray without it: the description just omits the address
        return ""


def address_of_running_cluster() -> str:
    """HOST:PORT of the cluster `ray start --head` started on this machine (`--address auto`),
    read from the address file Ray keeps in its temp directory and checked to answer within a
    few seconds: a file left behind by a cluster that is gone fails in one line instead of
    Ray's endless reconnection attempts."""
    temp = os.path.join(os.environ.get("RAY_TMPDIR") or os.environ.get("TMPDIR") or "/tmp", "ray")  # as `ray start`
    try:
        address = (Path(temp) / "ray_current_cluster").read_text().strip()
    except OSError:
        raise UserError(
            f"--address auto: no Ray cluster was started on this machine ({temp}/ray_current_cluster is missing); "
            "start one with `ray start --head`, or leave --address out to use a Ray of the study's own"
        ) from None
    try:
        wait_for_address(address, timeout=AUTO_PROBE_S)
    except UserError:
        raise UserError(
            f"--address auto: the Ray cluster recorded in {temp}/ray_current_cluster ({address}) does not answer; "
            "it is gone (`ray stop` clears the record) — leave --address out to use a Ray of the study's own"
        ) from None
    return address


AUTO_PROBE_S = 3.0  # a cluster on this machine answers at once, or is gone


def resolve_address(address: str | None) -> str | None:
    """HOST:PORT of the cluster the user named (--address, else $RAY_ADDRESS; `auto`: the one
    `ray start` runs on this machine), checked to answer; None: a Ray of the study's own."""
    address = requested_address(address)
    if address == "auto":
        address = address_of_running_cluster()
    wait_for_address(address)
    return address


def requested_address(address: str | None) -> str | None:
    """--address, else $RAY_ADDRESS, else None (a local Ray of the study's own)."""
    return address or os.environ.get("RAY_ADDRESS") or None


def wait_for_address(address: str | None, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fail within `timeout` seconds, in one line, when nothing answers at HOST:PORT (Ray's
    own connection attempt would wait a minute or more), within REFUSED_GRACE_S when the host
    refuses the connection. 'auto' and ray:// are left to Ray."""
    if not address:
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return
    started = time.monotonic()
    while True:
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=min(3.0, timeout)):
                return
        except OSError as exc:
            waited = time.monotonic() - started
            # refused: the host is up and nothing listens there (a head that `ray start` or `ray up`
            # reported up is listening): a short grace for a restarting head, not the full wait
            if waited >= timeout or (isinstance(exc, ConnectionRefusedError) and waited >= REFUSED_GRACE_S):
                why = exc.strerror or exc
                raise UserError(
                    f"cannot connect to Ray at {address}: nothing answered within {waited:.0f} s ({why}); "
                    "is the cluster up (`ray status`), and is the address the head's HOST:PORT?"
                ) from None
            time.sleep(0.5)


_stopped = threading.Event()


def raise_interrupt(signum, frame):
    """Ctrl-C and SIGTERM take the same clean path. An interrupt that lands inside a hook
    whose exceptions Python only prints ("Exception ignored in …", e.g. logging's at-fork
    lock release while Ray spawns a worker) would be lost and the study would run on: a
    watchdog interrupts the main thread again every 2 s until the guard has stopped."""
    if not _stopped.is_set() and not any(t.name == "mlab-interrupt" for t in threading.enumerate()):
        threading.Thread(target=_interrupt_until_stopped, name="mlab-interrupt", daemon=True).start()
    raise KeyboardInterrupt


def _quiet_lost_interrupt(unraisable) -> None:
    """The interrupt Python could not raise (it landed in a weakref callback, an at-fork hook)
    is not an error to print: the watchdog delivers it again, or the study is already stopping.
    Anything else prints as before."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        return
    _previous_unraisablehook(unraisable)


_previous_unraisablehook = sys.unraisablehook  # the hook ours hands everything else to


def _interrupt_until_stopped() -> None:
    # a real signal to the main thread: it also wakes a blocking call (sleep, a socket wait),
    # where _thread.interrupt_main would wait for the call to return
    main = threading.main_thread().ident
    while not _stopped.wait(2.0):
        signal.pthread_kill(main, signal.SIGINT)


def interrupt_handled() -> None:
    """The guard caught the interrupt: the watchdog stops repeating it."""
    _stopped.set()


def reclaim_signals() -> None:
    """Ctrl-C and SIGTERM both stop the driver cleanly (KeyboardInterrupt → resume message,
    exit 130). ray.init installs its own SIGTERM handler (log and exit 15), a shell that
    starts us in the background leaves SIGINT ignored, and a parent may hand down a blocked
    signal mask (Ray blocks SIGINT in processes it spawns): all are put back here."""
    global _previous_unraisablehook
    if threading.current_thread() is threading.main_thread():
        _stopped.clear()
        signal.signal(signal.SIGTERM, raise_interrupt)
        signal.signal(signal.SIGINT, raise_interrupt)
        if sys.unraisablehook is not _quiet_lost_interrupt:
            _previous_unraisablehook, sys.unraisablehook = sys.unraisablehook, _quiet_lost_interrupt
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


@contextmanager
def signals_handled() -> Iterator[None]:
    """The lab's handling of Ctrl-C and SIGTERM (`reclaim_signals`) for the block only: the
    caller's handlers and unraisable hook come back after it (a notebook's, a test runner's).
    An interrupt that leaves the block was delivered, so the watchdog stops repeating it."""
    in_main = threading.current_thread() is threading.main_thread()
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)} if in_main else {}
    previous_hook = sys.unraisablehook
    reclaim_signals()
    try:
        yield
    except KeyboardInterrupt:
        interrupt_handled()
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sys.unraisablehook = previous_hook


def _size() -> str:
    res = ray.cluster_resources()
    gpus = f", {res['GPU']:g} GPUs" if res.get("GPU") else ""
    return f"{len([n for n in ray.nodes() if n.get('Alive')])} node(s), {res.get('CPU', 0):g} CPUs{gpus}"


def where() -> dict[str, object]:
    """Where the current task runs: node id and the GPUs Ray assigned to it."""
    ctx = ray.get_runtime_context()
    return {"node_id": ctx.get_node_id(), "gpu_ids": [str(g) for g in ray.get_gpu_ids()]}


def cluster_resources() -> dict[str, float]:
    return dict(ray.cluster_resources())


def own_session_dir() -> str:
    """The session folder of the Ray this process started; "" when it uses someone else's."""
    return _session_dir if _owned and ray.is_initialized() else ""


def shutdown(interrupted: bool = False) -> None:
    """Stop the Ray instance this process started; leave one owned by a caller alone. After
    an interrupt, its task workers are first asked to save and stop (`stop_own_workers`)."""
    global _owned, _said, _session_dir
    if _owned and ray.is_initialized():
        if interrupted:
            stop_own_workers()
        ray.shutdown()
    _owned, _said, _session_dir = False, "", ""


TRAINING_TASKS = (b"ray::_run_bundle", b"ray::_train_bundle")  # tasks.cluster.remote's tasks that train
STOP_WAIT_S = 60.0  # a large bundle's chunk and save take seconds; a hung worker is not waited for longer


def stop_own_workers(timeout: float = STOP_WAIT_S) -> int:
    """SIGTERM the training workers of the Ray this process started, and wait (up to `timeout`, or
    a second Ctrl-C) until they have ended. A training bundle then saves its state at its next
    chunk boundary and exits (tasks.jobs.checkpoints), so an interrupted study loses no
    training; Ray's own shutdown gives a worker 100 ms between SIGTERM and SIGKILL (its
    kill_worker_timeout_milliseconds), less than one chunk of a large bundle takes. Returns
    how many there were; none where /proc cannot be read (not Linux)."""
    from tasks.cluster.leftovers import process_ended, processes_using, session_pattern, titled

    pattern = session_pattern(own_session_dir(), None)
    pids = titled(processes_using(pattern), TRAINING_TASKS) if pattern is not None else []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    if pids:
        LOG.warning(f"[stop] {len(pids)} training task(s) of this study's Ray save their state and stop (Ctrl-C: now)")
    deadline = time.monotonic() + timeout
    try:
        while [p for p in pids if not process_ended(p)] and time.monotonic() < deadline:
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    return len(pids)
