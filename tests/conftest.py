"""Shared fixtures: one local Ray instance and one TensorFlow set-up per test session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RAY_AUTH_MODE", "token")  # Ray 2.60's default, stated explicitly
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def tf():
    from tasks.tfenv import configure_tensorflow

    return configure_tensorflow(cpus=1, use_gpu=False)


@pytest.fixture(scope="session")
def ray_session():
    import ray

    from tasks.runtime import worker_env

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level="WARNING",
        log_to_driver=False,
        runtime_env={"env_vars": worker_env()},
    )
    yield ray
    ray.shutdown()


@pytest.fixture
def write_config(tmp_path):
    """Write a YAML config built from the smoke config with overrides; returns its path."""
    import yaml

    def _write(overrides: dict | None = None, name: str = "test.yaml", raw_text: str | None = None) -> str:
        path = tmp_path / name
        if raw_text is not None:
            path.write_text(raw_text)
            return str(path)
        base = yaml.safe_load((ROOT / "workflows" / "configs" / "smoke.yaml").read_text())
        for dotted, value in (overrides or {}).items():
            node = base
            *parents, leaf = dotted.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            if value is DELETE:
                node.pop(leaf, None)
            else:
                node[leaf] = value
        path.write_text(yaml.safe_dump(base))
        return str(path)

    return _write


DELETE = object()
