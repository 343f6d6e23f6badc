"""cluster.yaml and its GCP variant, validated offline by the installed Ray's own schema and
config validation after its defaults are filled in."""

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())


@pytest.fixture(params=["cluster.yaml", "cluster-gcp.yaml"])
def cluster_config(request):
    return yaml.safe_load((ROOT / request.param).read_text())


def test_schema_and_ray_validation(cluster_config):
    jsonschema.validate(cluster_config, SCHEMA)
    validate_config(prepare_config(copy.deepcopy(cluster_config)))


def test_node_types_have_explicit_resources_and_bounds(cluster_config):
    types = cluster_config["available_node_types"]
    assert {"head", "cpu_worker", "gpu_worker"} <= set(types)
    assert types["gpu_worker"]["resources"]["GPU"] >= 1 and types["cpu_worker"]["resources"]["CPU"] >= 1
    for name in ("cpu_worker", "gpu_worker"):
        assert 0 <= types[name]["min_workers"] <= types[name]["max_workers"]
    assert cluster_config["max_workers"] >= sum(types[n]["max_workers"] for n in ("cpu_worker", "gpu_worker"))


def test_project_is_installed_on_every_node(cluster_config):
    mounts = cluster_config["file_mounts"]
    target = next(k for k, v in mounts.items() if v == ".")
    assert any("pip install" in c and target in c for c in cluster_config["setup_commands"])


def test_token_auth_and_private_dashboard(cluster_config):
    head = " ".join(cluster_config["head_start_ray_commands"])
    worker = " ".join(cluster_config["worker_start_ray_commands"])
    assert "RAY_AUTH_MODE=token" in head and "RAY_AUTH_MODE=token" in worker
    assert "--dashboard-host=127.0.0.1" in head
    assert any("auth_token" in k for k in cluster_config["file_mounts"])


def test_aws_security_group_opens_only_ssh():
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    rules = config["provider"]["security_group"]["IpPermissions"]
    assert [(r["FromPort"], r["ToPort"]) for r in rules] == [(22, 22)]
