"""Multi-node behaviour on one machine: a head and two workers (one declaring a GPU its
hardware lacks, as Ray allows), shared storage on a loopback S3 server, a worker node killed
mid-run, and the `ray start --head` + CLI sequence of the docs (docs/operate/clusters.md)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from support import read_results, write_study

from tasks.store.storage import Store
from tasks.study.loading import load_config
from tasks.study.plan import make_plan
from workflows.run import main

ROOT = Path(__file__).resolve().parent.parent
FAST_HEALTH_CHECKS = {  # notice a dead node in seconds, not the production default
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 1000,
    "health_check_failure_threshold": 3,
}


@pytest.fixture(scope="module")
def cluster():
    import ray
    from ray.cluster_utils import Cluster

    from tasks.cluster.runtime import worker_env

    ray.shutdown()  # one Ray per process: this module brings its own
    # a CPU-only TF set-up earlier in this process hides GPUs; the fake-GPU raylet must not inherit that
    hidden = os.environ.pop("CUDA_VISIBLE_DEVICES", None)
    c = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False, "_system_config": FAST_HEALTH_CHECKS},
    )
    cpu_node = c.add_node(num_cpus=1)
    gpu_node = c.add_node(num_cpus=1, num_gpus=1)
    c.wait_for_nodes()
    ray.init(address=c.address, log_to_driver=False, runtime_env={"env_vars": worker_env()})
    yield c, cpu_node, gpu_node
    ray.shutdown()
    c.shutdown()
    if hidden is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = hidden


def stored_metrics(store: Store) -> pd.DataFrame:
    from tasks.pipeline import read_results

    return read_results(store, "metrics").sort_values(["model_id", "eval_kind", "eval_range"]).reset_index(drop=True)


def _placements(store: Store) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {"shards": [], "bundles": [], "evals": []}
    for d in store.list_dirs("datasets"):
        out["shards"] += store.read_json(f"datasets/{d}/_manifest.json")["shards"]
    for d in store.list_dirs("models"):
        out["bundles"].append(store.read_json(f"models/{d}/_manifest.json")["placement"])
    for d in store.list_dirs("evals"):
        out["evals"].append(store.read_json(f"evals/{d}/_manifest.json")["placement"])
    return out


def test_gpu_placement_and_s3_storage_with_idempotent_rerun(cluster, s3_server, capsys):
    import ray

    _, _, gpu_node = cluster
    assert ray.cluster_resources().get("GPU") == 1
    out = s3_server("smoke")
    assert main(["--config", "smoke", "--out", out]) == 0
    store = Store(out)
    where = _placements(store)
    # training bundles went to the GPU node and were given the GPU; a fresh bundle is evaluated
    # inside its own task (one task per bundle), so where it trained; data generation never saw the GPU
    assert where["bundles"] and all(p["node_id"] == gpu_node.node_id for p in where["bundles"])
    assert all(p["gpu_ids"] == ["0"] for p in where["bundles"])
    assert where["evals"] and all(p in where["bundles"] for p in where["evals"])
    assert all(s["gpu_ids"] == [] for s in where["shards"])
    nodes = {s["node_id"] for s in where["shards"]} | {p["node_id"] for p in where["bundles"] + where["evals"]}
    assert len(nodes) >= 2  # work spread across nodes
    # the report and tables are on S3
    assert b"<html" in store.read_bytes("report/index.html")
    metrics = stored_metrics(store)
    capsys.readouterr()

    assert main(["--config", "smoke", "--out", out]) == 0  # rerun: everything reused
    assert "0 of 4 models to train" in capsys.readouterr().err  # nothing changed: results and report reused
    pd.testing.assert_frame_equal(metrics, stored_metrics(store))


def test_worker_node_killed_mid_run_completes_exactly_once(cluster, tmp_path):
    c, cpu_node, _ = cluster
    overrides = {"seeds": [0, 1, 2], "training.steps": 3000, "training.log_every": 500, "training.bundle_size": 1}
    overrides["resources.train_gpus"] = 0  # CPU training on every node, so the killed node held some
    config_path = write_study(tmp_path, overrides, "killnode")
    out = tmp_path / "out"
    result: dict[str, int] = {}
    runner = threading.Thread(target=lambda: result.update(rc=main(["--config", str(config_path), "--out", str(out)])))
    runner.start()
    deadline = time.monotonic() + 240
    while not list(out.glob("models/*/_manifest.json")) and time.monotonic() < deadline and runner.is_alive():
        time.sleep(0.2)
    assert list(out.glob("models/*/_manifest.json")), "training never started"
    c.remove_node(cpu_node, allow_graceful=False)  # SIGKILL the node's processes mid-run
    runner.join(timeout=300)
    assert not runner.is_alive() and result["rc"] == 0

    plan = make_plan(load_config(str(config_path)))
    metrics = read_results(out, "metrics")
    per_model = len(plan.models[0].evals) + len(plan.config.evaluation.diagonal.segments)
    assert len(metrics) == len(plan.models) * per_model  # every result present...
    assert not metrics.duplicated(["model_id", "eval_kind", "eval_range"]).any()  # ...exactly once
    bundles = [json.loads(p.read_text()) for p in out.glob("models/*/_manifest.json")]
    trained = [m["model_id"] for b in bundles for m in b["members"]]
    assert sorted(trained) == sorted(m.model_id for m in plan.models)
    store = Store(str(out))
    for b in bundles:  # every listed file is whole: checksums match
        for f in b["files"].values():
            from tasks.store.storage import file_info

            store.read_verified(f["path"], file_info(f))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ray_start_head_then_cli_on_s3_reuses_everything(s3_server):
    """The docs' sequence (docs/operate/clusters.md): `ray start --head`, then the CLI against shared
    storage, twice."""
    import ray

    ray.shutdown()
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    env.pop("RAY_ADDRESS", None)
    port = _free_port()
    address = f"127.0.0.1:{port}"
    ray_bin = str(Path(sys.executable).parent / "ray")
    subprocess.run(
        [
            ray_bin,
            "start",
            "--head",
            f"--port={port}",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    try:
        out = s3_server("cli")
        cmd = [sys.executable, str(ROOT / "workflows/run.py"), "--config", "smoke", "--out", out]
        first = subprocess.run([*cmd, "--address", "auto"], env=env, capture_output=True, text=True, timeout=300)
        assert first.returncode == 0, first.stderr[-2000:]
        # the cluster this machine started (Ray may announce 127.0.0.1 as the machine's routable address)
        assert re.search(rf"Ray cluster at [\d.]+:{port} \(given by --address", first.stderr), first.stderr
        env_cli = {**env, "RAY_ADDRESS": address}  # or is told where it is
        Store(out).invalidate("results")  # so that the second run collects again (on the cluster) from what it reuses
        second = subprocess.run(cmd, env=env_cli, capture_output=True, text=True, timeout=300)
        assert re.search(rf"Ray cluster at [\d.]+:{port} \(given by \$RAY_ADDRESS", second.stderr), second.stderr
        assert second.returncode == 0, second.stderr[-2000:]
        assert "0 of 4 models to train" in second.stderr and "(11 reused)" in second.stderr
        third = subprocess.run(cmd, env=env_cli, capture_output=True, text=True, timeout=300)
        assert third.returncode == 0 and "results and report are current" in third.stderr  # nothing to do
    finally:
        stop_ray_at(port)  # only this cluster: `ray stop` would stop every Ray on the machine


def stop_ray_at(port: int, grace: float = 10.0) -> None:
    """Stop the processes of the Ray cluster whose GCS listens on `port` (SIGTERM, then SIGKILL)."""
    mark = re.compile(rb"(:|gcs_server_port=)%d(?!\d)" % port)  # this port, not one it prefixes
    victims = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if mark.search(cmdline):
                victims.append(int(proc.name))
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in victims):
            time.sleep(0.2)


def test_plugin_code_travels_to_the_nodes(cluster, tmp_path):
    """A plugin that exists only on the driver: the lab's own Ray connection ships its code,
    so every node trains and evaluates it even after the driver's file is gone."""
    import ray

    from tasks.cluster import runtime
    from tasks.cluster.runtime import worker_env
    from tasks.model import plugins
    from tasks.pipeline import run_study
    from tasks.store.outputs import open_output

    c, _, _ = cluster
    source = tmp_path / "driver_only_units.py"
    shutil.copy(ROOT / "tests" / "example_plugin.py", source)
    plugins.reset()
    plugins.load_plugins([str(source)])
    config = write_study(
        tmp_path, {"architectures": [{"arch": "quadratic"}], "resources.train_gpus": 0, "training.bundle_size": 1}
    )
    plan = make_plan(load_config(str(config)))
    ray.shutdown()
    try:
        runtime.connect(c.address)  # ships the plugin with the job (py_modules)
        source.unlink()  # from here on a worker can only import the shipped copy
        out = tmp_path / "out"
        run_study(plan, open_output(str(out)))
        metrics = read_results(out, "metrics")
        assert set(metrics["arch"]) == {"quadratic"} and len(set(metrics["model_id"])) == 4
        nodes = {p["node_id"] for p in _placements(Store(str(out)))["bundles"]}
        assert len(nodes) >= 2  # trained on more than one node
    finally:
        runtime.shutdown()
        plugins.reset()
        ray.init(address=c.address, log_to_driver=False, runtime_env={"env_vars": worker_env()})
