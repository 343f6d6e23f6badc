"""Dotted-key overrides of a raw config mapping: `training.steps=2000`, `seeds.count=3`.

Values are read as YAML scalars or flow collections (`2000` is an int, `[0, 1]` a list,
`adam` a string), so an override means what the same text means in a config file. The
result is validated by the config parser like any file.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from tasks.core.errors import UserError

DELETE = object()  # an override value that removes the key (used by tests)


def parse_assignment(text: str) -> tuple[str, Any]:
    """`key.path=value` → (key path, YAML-typed value)."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise UserError(f"--set expects key.path=value, got {text!r}")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError as exc:
        raise UserError(f"--set {key}: value {value!r} is not valid YAML: {' '.join(str(exc).split())}") from None
    return key, parsed


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set (or with DELETE remove) `key` in nested mappings, creating sections on the way."""
    node = raw
    *parents, leaf = key.split(".")
    for i, part in enumerate(parents):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parents[: i + 1])
            raise UserError(f"--set {key}: '{where}' is not a section (it holds {child!r})")
        node = child
    if value is DELETE:
        node.pop(leaf, None)
    else:
        node[leaf] = value


def apply_overrides(raw: dict[str, Any], overrides: list[str] | dict[str, Any]) -> dict[str, Any]:
    """A copy of `raw` with each override applied in order (later ones win)."""
    out = copy.deepcopy(raw)
    if not isinstance(out, dict):
        return out  # the parser reports a non-mapping config
    pairs = overrides.items() if isinstance(overrides, dict) else (parse_assignment(o) for o in overrides)
    for key, value in pairs:
        set_dotted(out, key, value)
    return out
