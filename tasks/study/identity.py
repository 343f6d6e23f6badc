"""A study's identity: its name and the settings that change its results (pure).

An output folder holds one study, and a night's config is compared with the previous night's;
both ask what differs between two resolved configs (as `config_to_raw` writes them, e.g.
OUT/config.yaml). Only keys present on both sides are compared, so a key a later version of
the lab adds (with its default) never makes two configs "different"; settings that cannot
change a result (description, output, resources, bundle sizes, the paper a study cites, the report's
file formats) are
left out.
"""

from __future__ import annotations

import copy
from typing import Any

from tasks.study.config import Config
from tasks.study.render import config_to_raw

# what never changes a trained weight or a metric: words, where outputs go, how work is packed
NOT_RESULTS = ("description", "output", "resources", "reproduces", "deviations", "report")
PACKING = "bundle_size"  # models per training task: bundles train exactly like models alone


def settings(config: Config | dict[str, Any], keep: tuple[str, ...] = ("name",)) -> dict[str, Any]:
    """The resolved config without what cannot change results; `keep` of the top-level keys
    are kept even when they do not (the name, for an output folder's identity)."""
    raw = copy.deepcopy(config_to_raw(config) if isinstance(config, Config) else config)
    for key in NOT_RESULTS:
        raw.pop(key, None)
    if "name" not in keep:
        raw.pop("name", None)
    archs = [a for a in raw.get("architectures") or [] if isinstance(a, dict)]
    for training in [raw.get("training"), *(a.get("training") for a in archs)]:
        if isinstance(training, dict):
            training.pop(PACKING, None)
    return raw


def differences(old: Any, new: Any, path: str = "") -> list[str]:
    """Dotted keys whose values differ; keys on one side only are not differences. Lists of
    the same length are compared item by item, others as a whole; 1 and 1.0 are equal."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) & set(new), key=str):
            out += differences(old[key], new[key], f"{path}.{key}" if path else str(key))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new)) for d in differences(a, b, f"{path}[{i}]")]
    return [] if old == new else [path or "<root>"]


def describe(old: dict[str, Any], new: dict[str, Any], keys: list[str], limit: int = 4) -> str:
    """'training.steps 300 → 100, seeds [0, 1] → [0, 1, 2]' (the first `limit` keys)."""
    parts = [f"{key} {_short(_at(old, key))} → {_short(_at(new, key))}" for key in keys[:limit]]
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(parts) + more


def _at(raw: Any, key: str) -> Any:
    value = raw
    for part in key.replace("[", ".[").split("."):
        if part.startswith("["):
            value = value[int(part[1:-1])]
        elif part:
            value = value[part]
    return value


def _short(value: Any, width: int = 40) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"
