"""The cluster configs (cluster.yaml for AWS, cluster-gcp.yaml, cluster-local.yaml for your own
machines), validated offline by the installed Ray's own schema and config validation after its
defaults are filled in, plus the invariants their setup relies on. tests/test_launcher.py runs
cluster-local.yaml for real."""

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
CLOUD = ["cluster.yaml", "cluster-gcp.yaml"]
ALL = [*CLOUD, "cluster-local.yaml"]
VENV = "~/multiplication-lab-venv"

sys.path.insert(0, str(ROOT / ".ci"))
import cluster_configs  # noqa: E402


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


@pytest.fixture(params=ALL)
def cluster_config(request):
    return load(request.param)


@pytest.fixture(params=CLOUD)
def cloud_config(request):
    return load(request.param)


def setup_lists(config: dict) -> dict[str, list[str]]:
    """Every list of setup commands a node can run: the global ones and any node type's own."""
    lists = {k: config.get(k, []) for k in ("setup_commands", "head_setup_commands", "worker_setup_commands")}
    for name, node_type in config.get("available_node_types", {}).items():
        if "worker_setup_commands" in node_type:
            lists[f"{name}.worker_setup_commands"] = node_type["worker_setup_commands"]
    return lists


def test_schema_and_ray_validation(cluster_config):
    jsonschema.validate(cluster_config, SCHEMA)
    validate_config(prepare_config(copy.deepcopy(cluster_config)))


def test_shared_parts_are_generated_from_one_source():
    assert cluster_configs.main(["--check"]) == 0, "run: python .ci/cluster_configs.py"


def test_node_types_have_explicit_resources_and_bounds(cloud_config):
    types = cloud_config["available_node_types"]
    assert {"head", "cpu_worker", "gpu_worker"} <= set(types)
    assert types["gpu_worker"]["resources"]["GPU"] >= 1 and types["cpu_worker"]["resources"]["CPU"] >= 1
    assert types["head"]["resources"] == {"CPU": 0}  # the head runs no work
    for name in ("cpu_worker", "gpu_worker"):
        assert 0 <= types[name]["min_workers"] <= types[name]["max_workers"]
    assert cloud_config["max_workers"] >= sum(types[n]["max_workers"] for n in ("cpu_worker", "gpu_worker"))


def test_cloud_images_are_pinned_to_a_python_that_satisfies_requires_python(cloud_config):
    """Ubuntu 24.04 (Python 3.12) on every node type: Ray's default image (a 2021 Deep Learning
    AMI) and an unpinned image could bring a Python older than requires-python >= 3.11."""
    for name, node_type in cloud_config["available_node_types"].items():
        node = node_type["node_config"]
        image = node.get("ImageId") or node["disks"][0]["initializeParams"]["sourceImage"]
        assert re.search(r"ubuntu.*24\.?04", image), f"{name}: {image}"
        if "GPU" in node_type["resources"]:  # an image with the NVIDIA driver
            assert "nvidia" in image, f"{name}: {image}"


def test_project_is_synced_and_installed_into_a_venv_on_every_node(cluster_config):
    mounts = cluster_config["file_mounts"]
    target = next(k for k, v in mounts.items() if v == ".")
    for where, commands in setup_lists(cluster_config).items():
        text = "\n".join(commands)
        if where == "setup_commands" or where.endswith(".worker_setup_commands"):  # a node's full setup
            assert "python3 -m venv" in text and f"{VENV}/bin/python -m pip install" in text, where
            assert f'-e "$HOME/{target[2:]}' in text, where
        for line in commands:  # never pip outside the venv (PEP 668: externally managed Pythons)
            for m in re.finditer(r"(\S+) -m pip install|\bpip3? install", line):
                assert m.group(1) == f"{VENV}/bin/python", f"{where}: pip outside the venv: {line}"
            assert "--break-system-packages" not in line and "sudo pip" not in line, line


def test_venv_goes_first_on_the_login_path_once(cluster_config, tmp_path):
    """`ray submit` runs plain `python` in a login shell: the venv must come first on its PATH.
    The ~/.bashrc line is written once, however often setup runs."""
    command = next(c for c in cluster_config["setup_commands"] if "~/.bashrc" in c)
    (tmp_path / ".bashrc").write_text("export PATH=/somewhere:$PATH\n")
    for _ in range(2):
        subprocess.run(["bash", "-c", command], env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}, check=True)
    bashrc = (tmp_path / ".bashrc").read_text()
    assert bashrc.count("multiplication-lab-venv/bin") == 1
    shown = subprocess.run(
        ["bash", "-c", "source ~/.bashrc; echo $PATH; echo $RAY_AUTH_MODE"],
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert shown[0].startswith(f"{tmp_path}/multiplication-lab-venv/bin:") and shown[1] == "token"


def test_gpu_extra_only_on_gpu_node_types(cloud_config):
    lists = setup_lists(cloud_config)
    for where, commands in lists.items():
        has_gpu_extra = any("[gpu]" in c for c in commands)
        assert has_gpu_extra == (where == "gpu_worker.worker_setup_commands"), where
    # the GPU type's own list is the full setup (it replaces setup_commands there), plus the extra
    gpu = lists["gpu_worker.worker_setup_commands"]
    assert [c.replace("[gpu]", "") for c in gpu] == cloud_config["setup_commands"]


def test_on_prem_gpu_extra_only_where_nvidia_smi_sees_a_gpu():
    config = load("cluster-local.yaml")
    gpu = [c for c in config["setup_commands"] if "[gpu]" in c]
    assert len(gpu) == 1 and re.search(r"if nvidia-smi -L >/dev/null 2>&1; then EXTRA=\"\[gpu\]\"", gpu[0])
    assert "python3 -m venv --system-site-packages" in " ".join(config["setup_commands"])


def test_rsync_excludes_caches_outputs_and_build_metadata(cluster_config):
    excluded = set(cluster_config["rsync_exclude"])
    assert {".git", "/out", "__pycache__", ".pytest_cache", "*.egg-info", ".ruff_cache", "/.venv"} <= excluded


def test_token_auth_and_private_dashboard(cluster_config):
    head = " ".join(cluster_config["head_start_ray_commands"])
    worker = " ".join(cluster_config["worker_start_ray_commands"])
    assert "RAY_AUTH_MODE=token" in head and "RAY_AUTH_MODE=token" in worker
    assert "--dashboard-host=127.0.0.1" in head
    assert cluster_config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"


def test_start_commands_survive_a_low_file_limit_and_spare_a_colocated_head(cluster_config):
    for command in cluster_config["head_start_ray_commands"] + cluster_config["worker_start_ray_commands"]:
        assert not re.search(r"ulimit -n \d+;", command), f"fails under a lower hard limit: {command}"
    starts = [c for c in cluster_config["head_start_ray_commands"] + cluster_config["worker_start_ray_commands"]]
    assert all(cluster_configs.ULIMIT in c for c in starts if "ray start" in c)
    # under a hard limit of 1024 the guarded form raises the soft limit to 1024 and succeeds
    # (as an unprivileged user: root may raise its hard limit)
    probe = f"ulimit -Sn 256 && ulimit -Hn 1024 && {cluster_configs.ULIMIT} ulimit -Sn"
    user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    out = subprocess.run([*user, "bash", "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1024", out.stderr
    worker_stops = [c for c in cluster_config["worker_start_ray_commands"] if "ray stop" in c]
    assert worker_stops and all("gcs_server" in c and "||" in c for c in worker_stops)


def test_on_prem_head_uses_the_autoscaler_that_launches_listed_workers():
    config = load("cluster-local.yaml")
    head = next(c for c in config["head_start_ray_commands"] if "ray start" in c)
    # `ray up` prepends `export RAY_enable_autoscaler_v2=1;`: ours must come after it
    assert "RAY_enable_autoscaler_v2=0" in head
    for command in (head, next(c for c in config["worker_start_ray_commands"] if "ray start" in c)):
        assert "SSH_CONNECTION" in command and "--node-ip-address" in command


def test_aws_security_group_opens_only_ssh():
    config = load("cluster.yaml")
    rules = config["provider"]["security_group"]["IpPermissions"]
    assert [(r["FromPort"], r["ToPort"]) for r in rules] == [(22, 22)]
