"""What a run ran on: package versions, git commit, hardware and cluster size, so a
regression can be traced to a change."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from tasks.core.hardware import cpu_model

PACKAGES = ("ray", "tensorflow", "keras", "numpy", "pyarrow", "pandas", "seaborn")
PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
        if out.returncode == 0:
            return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def describe_environment() -> dict[str, str]:
    env = {
        "python": platform.python_version(),
        "git_commit": git_commit(),
        "host": platform.node(),
        "cpu": cpu_model(),
        "cpus": str(os.cpu_count()),
        "memory_gb": f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f}",
    }
    for name in PACKAGES:
        try:
            env[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            env[name] = "not installed"
    try:
        import ray

        if ray.is_initialized():
            res = ray.cluster_resources()
            env["cluster"] = (
                f"{len([n for n in ray.nodes() if n.get('Alive')])} nodes, "
                f"{res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs"
            )
    except Exception:
        pass
    return env
