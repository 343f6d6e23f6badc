"""Shared fixtures: one local Ray instance and one TensorFlow set-up per test session."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("RAY_AUTH_MODE", "token")  # Ray 2.60's default, stated explicitly
# cluster_utils.Cluster does not create a token the way ray.init does: give every Ray process one
os.environ.setdefault("RAY_AUTH_TOKEN", __import__("secrets").token_hex(16))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Credentials for the loopback S3 server; set before any Ray starts so every worker inherits them.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
# Bundle-size calibrations of this session go to a scratch cache, never the user's (workers inherit it).
os.environ["MLAB_CACHE_DIR"] = __import__("tempfile").mkdtemp(prefix="mlab-test-cache-")


@pytest.fixture(scope="session")
def tf():
    from tasks.model.tfenv import configure_tensorflow

    return configure_tensorflow(cpus=1, use_gpu=False)


def start_local_ray():
    import ray

    from tasks.cluster.runtime import worker_env

    ray.init(
        address="local",  # the suite's own instance, never another Ray running on this machine
        num_cpus=2,
        include_dashboard=False,
        logging_level="WARNING",
        log_to_driver=False,
        runtime_env={"env_vars": worker_env()},
    )


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray instance shared by the session (restarted only after a test that needed
    a different cluster shut it down)."""
    import ray

    if not ray.is_initialized():
        start_local_ray()
    return ray


_EXIT_STATUS: list[int] = []


def pytest_sessionfinish(session, exitstatus):
    import sys as _sys

    if "ray" in _sys.modules:
        _sys.modules["ray"].shutdown()
    _EXIT_STATUS.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """Leave without Python's interpreter teardown once pytest has written everything: with
    TensorFlow's and Ray's native threads still in the process, finalisation can crash (a
    fresh-clone run printed "484 passed" and then died of SIGSEGV, exit 139), which would
    turn a passing suite into a failing command. MLAB_TEST_FULL_TEARDOWN=1 keeps the teardown
    (to look for that crash)."""
    import sys as _sys

    if _EXIT_STATUS and not os.environ.get("MLAB_TEST_FULL_TEARDOWN"):
        _sys.stdout.flush()
        _sys.stderr.flush()
        os._exit(_EXIT_STATUS[-1])


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-compatible server (moto) on loopback; returns a factory of s3:// URIs."""
    import uuid

    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    client = boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1")

    def uri(prefix: str = "lab") -> str:
        bucket = f"b-{uuid.uuid4().hex[:12]}"
        client.create_bucket(Bucket=bucket)
        return f"s3://{bucket}/{prefix}?endpoint_override={host}:{port}&scheme=http&region=us-east-1"

    yield uri
    server.stop()


@pytest.fixture(scope="session")
def s3_auth_server():
    """A second loopback S3 server that checks credentials (moto with IAM auth on, in its own
    process); the tests' AWS_* keys are unknown to it. Returns (host, port)."""
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("the credential-checking S3 server did not start") from None
            time.sleep(0.2)
    yield "127.0.0.1", port
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture
def ray_tmpdir():
    """A Ray temp directory of the test's own (short: Ray's socket paths must stay < 108 bytes,
    which a pytest tmp_path does not leave room for)."""
    path = tempfile.mkdtemp(prefix="r", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def write_config(tmp_path):
    """Write a YAML config built from the smoke config with dotted overrides (or raw text); returns its path."""
    from support import smoke_raw

    def _write(overrides: dict | None = None, name: str = "test.yaml", raw_text: str | None = None) -> str:
        path = tmp_path / name
        path.write_text(raw_text if raw_text is not None else yaml.safe_dump(smoke_raw(overrides)))
        return str(path)

    return _write


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def browser_check():
    """Open a page in headless Chromium: ([complete, naturalWidth] per image, table count,
    console errors and failed requests). Without a browser: fails in CI, skips with the reason
    on a developer's machine (support.skip_unless_ci)."""
    from support import skip_unless_ci

    if not os.path.exists(CHROMIUM):
        skip_unless_ci(f"{CHROMIUM} is not installed (.ci/run installs Debian's chromium)")
    try:
        from playwright import sync_api
    except ImportError:
        skip_unless_ci("playwright is not installed (it is in the test extras)")

    def check(page_path):
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                ],
            )
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
            page.goto(Path(page_path).as_uri())
            images = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth])")
            tables = page.eval_on_selector_all("table", "els => els.length")
            browser.close()
        return images, tables, errors

    return check
