"""A parsed config written back in the file format: `--print-config` shows it, and every
study keeps the one it ran as OUT/config.yaml (`--config OUT/config.yaml` reruns it exactly).

Every value is explicit (defaults filled in), so the file says everything the study did.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import yaml

from tasks.core.ranges import Ranges
from tasks.core.schema import auto
from tasks.study.config import ArchSpec, Config


def _ranges(r: Ranges) -> list:
    return r.to_json()[0] if len(r.intervals) == 1 else r.to_json()


def _training(t) -> dict[str, Any]:
    d = asdict(t)
    d["bundle_size"] = auto(d["bundle_size"])
    return d


def _architecture(a: ArchSpec) -> dict[str, Any]:
    entry: dict[str, Any] = {"arch": a.arch, **a.params}
    if a.training is not None:
        entry["training"] = json.loads(a.overrides_json)
    return entry


def _target(config: Config) -> Any:
    """`product` for the article's task; else the layout, its keys and the operation(s)."""
    first = config.target
    if first.identity() == "product" and len(config.targets) == 1:
        return "product"
    names = [t.operation.name for t in config.targets]
    shown = {k: v for k, v in first.params.items() if k != "operation"}
    return {"name": first.name, **shown, "operation": names[0] if len(names) == 1 else names}


def config_to_raw(config: Config) -> dict[str, Any]:
    """The config as a mapping of the file format (parse_config gives the same Config back)."""
    ev = config.evaluation
    raw: dict[str, Any] = {
        "name": config.name,
        "description": config.description,
        "target": _target(config),
        "output": config.output,
        "seeds": list(config.seeds),
        "data": asdict(config.data),
        "train_ranges": [
            {"range": _ranges(tr.range), "eval": [_ranges(e) for e in tr.eval]} if tr.eval else _ranges(tr.range)
            for tr in config.train_ranges
        ],
        "architectures": [_architecture(a) for a in config.architectures],
        "training": _training(config.training),
        "evaluation": {
            "scales": list(ev.scales),
            "widen": ev.widen,
            "ranges": [_ranges(r) for r in ev.ranges],
            "size": ev.size,
            "diagonal": False
            if ev.diagonal is None
            else {
                "lo": ev.diagonal.lo,
                "hi": ev.diagonal.hi,
                "points": ev.diagonal.points,
                "segments": [_ranges(s) for s in ev.diagonal.segments],
            },
            "success": asdict(ev.success),
            "probe_rows": ev.probe_rows,
            "fit_nrmse": ev.fit_nrmse,
        },
        "resources": {
            "train_cpus": config.resources.train_cpus,
            "train_gpus": auto(config.resources.train_gpus),
        },
    }
    if config.reproduces:
        raw["reproduces"] = config.reproduces
    if config.deviations:
        raw["deviations"] = list(config.deviations)
    return raw


def config_yaml(config: Config) -> str:
    return yaml.safe_dump(config_to_raw(config), sort_keys=False, allow_unicode=True, width=100)
