"""What `mlab version` and `mlab --version` say: the lab's version, its git commit when it runs
from a checkout, and the versions of Python, TensorFlow and Ray — read from the installed
packages' metadata, so neither TensorFlow nor Ray is imported (nor prints anything)."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "multiplication-lab"
PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def git_commit(root: Path = PROJECT_ROOT) -> str | None:
    """The checkout's commit (12 hex digits, "+ local changes" when tracked files differ), or
    None outside a git checkout or without git."""
    if not (root / ".git").exists():
        return None

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        if done.returncode:
            raise OSError(done.stderr.strip())
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit} + local changes" if dirty else commit


def short_version() -> str:
    commit = git_commit()
    return f"{DISTRIBUTION} {package_version(DISTRIBUTION)}" + (f" (commit {commit})" if commit else "")


def version_report() -> str:
    return "\n".join(
        [
            short_version(),
            f"Python {platform.python_version()} ({platform.python_implementation()}, {platform.system()})",
            f"TensorFlow {package_version('tensorflow')}",
            f"Ray {package_version('ray')}",
        ]
    )
