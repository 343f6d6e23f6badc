"""Connecting the driver to Ray: an existing cluster when asked (or when one is running),
else a local instance with its dashboard bound to localhost."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import ray

from tasks.core.errors import UserError
from tasks.model import plugins

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
_owned = False  # True when this process called ray.init (and so must shut down / disconnect)


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
    """Initialise Ray once per process; returns a description of what we connected to."""
    if ray.is_initialized():
        return "existing Ray session"
    address = requested_address(address)
    common = {
        "logging_level": logging.INFO if verbose else logging.WARNING,
        "log_to_driver": verbose,
        "runtime_env": job_runtime_env(),
    }
    global _owned
    _owned = True
    if address:
        wait_for_address(address)
        try:
            ray.init(address=address, **common)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            _owned = False
            raise UserError(f"cannot connect to Ray at {address}: {' '.join(str(exc).split())[:300]}") from None
        reclaim_signals()
        return f"Ray cluster at {address} ({_size()})"
    running = running_local_cluster() if num_cpus is None else None
    if running:  # a cluster already running on this machine (`ray start --head`) is used
        try:
            ray.init(address=running, **common)
            reclaim_signals()
            return f"running Ray cluster ({_size()})"
        except ConnectionError:
            pass
    if num_cpus is not None:
        common["num_cpus"] = num_cpus
    try:
        ray.init(dashboard_host="127.0.0.1", **common)  # never expose the dashboard beyond this machine
    except (ValueError, RuntimeError) as exc:  # e.g. --num-cpus while a local cluster is running
        _owned = False
        raise UserError(f"cannot start a local Ray: {' '.join(str(exc).split())[:300]}") from None
    reclaim_signals()
    return f"local Ray ({_size()})"


CONNECT_TIMEOUT_S = 15.0  # how long an explicit --address may take to answer
LOCAL_PROBE_S = 2.0  # a Ray instance on this machine answers at once, or is not usable


def running_local_cluster() -> str | None:
    """The address of a Ray instance started on this machine (`ray start --head`) that
    answers, else None. Ray's own "auto" would wait minutes on one that died (its address
    file stays behind) or that sits in another network namespace."""
    from ray._private import services  # Ray's lookup of "auto"; private, hence the fallback below

    try:
        address = services.get_ray_address_from_environment("auto", None)
    except (ConnectionError, AttributeError, TypeError):
        return None
    try:
        wait_for_address(address, timeout=LOCAL_PROBE_S)
    except UserError:
        print(f"[ray] the Ray instance at {address} does not answer; starting a local one", file=sys.stderr)
        return None
    return address


def requested_address(address: str | None) -> str | None:
    """--address, else $RAY_ADDRESS, else None (a local or already running Ray)."""
    return address or os.environ.get("RAY_ADDRESS") or None


def wait_for_address(address: str | None, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fail within `timeout` seconds, in one line, when nothing listens at HOST:PORT (Ray's
    own connection attempt would wait a minute or more). 'auto' and ray:// are left to Ray."""
    if not address:
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=min(3.0, timeout)):
                return
        except OSError as exc:
            if time.monotonic() >= deadline:
                why = exc.strerror or exc
                raise UserError(
                    f"cannot connect to Ray at {address}: nothing answered within {timeout:.0f} s ({why}); "
                    "is the cluster up (`ray status`), and is the address the head's HOST:PORT?"
                ) from None
            time.sleep(0.5)


def raise_interrupt(signum, frame):  # SIGTERM behaves like Ctrl-C: the same clean path
    raise KeyboardInterrupt


def reclaim_signals() -> None:
    """Ctrl-C and SIGTERM both stop the driver cleanly (KeyboardInterrupt → resume message,
    exit 130). ray.init installs its own SIGTERM handler (log and exit 15), a shell that
    starts us in the background leaves SIGINT ignored, and a parent may hand down a blocked
    signal mask (Ray blocks SIGINT in processes it spawns): all are put back here."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, raise_interrupt)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


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


def shutdown() -> None:
    """Stop the Ray instance this process started; leave one owned by a caller alone."""
    global _owned
    if _owned and ray.is_initialized():
        ray.shutdown()
    _owned = False
