"""The one way tests build study configs: the shipped smoke config with dotted overrides,
applied by the same code as the command line's --set (tasks.study.overrides)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tasks.study.overrides import DELETE, apply_overrides

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "workflows" / "configs" / "smoke.yaml"

__all__ = ["DELETE", "ROOT", "skip_unless_ci", "smoke_raw", "write_study"]


def skip_unless_ci(reason: str) -> None:
    """What a test needs is missing: in CI (.ci/run sets MLAB_CI=1, having installed it all)
    that is a failure, on a developer's machine a skip with the reason."""
    import os

    import pytest

    if os.environ.get("MLAB_CI"):
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


def smoke_raw(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The smoke config as a mapping, with `{"training.steps": 5, ...}` applied (DELETE removes a key)."""
    return apply_overrides(yaml.safe_load(SMOKE.read_text()), overrides or {})


def write_study(directory: Path, overrides: dict[str, Any] | None = None, name: str = "test") -> Path:
    """A YAML file `<directory>/<name>.yaml` holding smoke + overrides, named `name`."""
    path = Path(directory) / f"{name}.yaml"
    path.write_text(yaml.safe_dump(smoke_raw({"name": name, **(overrides or {})})))
    return path


SORT_KEYS = {
    "metrics": ["model_id", "eval_kind", "eval_range"],
    "models": ["model_id"],
    "curves": ["model_id", "step"],
    "probes": ["model_id", "step", "eval_range"],
    "diagonal": ["model_id", "x"],
}


def read_results(out: Path, table: str):
    """A study table as pandas reads it (results/<table>/ is a Parquet dataset), in a fixed order."""
    import pandas as pd

    frame = pd.read_parquet(Path(out) / "results" / table)
    return frame.sort_values(SORT_KEYS[table], kind="stable").reset_index(drop=True)
