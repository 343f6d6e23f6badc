"""Finding and reading config files: shipped presets by name, or a YAML/TOML path.

YAML is read with `yaml.safe_load` (never executed), TOML with `tomllib`. Command-line
overrides (`--set key=value`) are applied to the raw mapping before validation, so they meet
exactly the checks and messages of a config file.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

from tasks.core.errors import UserError
from tasks.study.config import Config, parse_config
from tasks.study.overrides import apply_overrides

CONFIG_DIR = Path(__file__).resolve().parent.parent.parent / "workflows" / "configs"


def available_configs() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def resolve_config_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml", ".toml") or path.exists():
        if not path.is_file():
            raise UserError(f"config file not found: {name_or_path}")
        return path
    if re.fullmatch(r"[A-Za-z0-9_-]+", name_or_path) and (CONFIG_DIR / f"{name_or_path}.yaml").is_file():
        return CONFIG_DIR / f"{name_or_path}.yaml"
    raise UserError(
        f"no config named '{name_or_path}' "
        f"(shipped configs: {', '.join(available_configs())}; or give a .yaml/.toml path)"
    )


def read_raw_config(name_or_path: str) -> tuple[dict[str, Any], Path]:
    """The config file's mapping, unvalidated, and where it came from."""
    path = resolve_config_path(name_or_path)
    text = path.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        kind = "TOML" if path.suffix == ".toml" else "YAML"
        detail = " ".join(str(exc).split())
        raise UserError(f"{path} is not valid {kind}: {detail}") from None
    if raw is None:
        raise UserError(f"{path} is empty")
    return raw, path


def load_config(name_or_path: str, overrides: list[str] | None = None) -> Config:
    """A validated config: the file, then each `key=value` override in order."""
    raw, path = read_raw_config(name_or_path)
    if overrides:
        raw = apply_overrides(raw, overrides)
    return parse_config(raw, default_name=path.stem)
