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
from tasks.evaluation.job import HorizonConfig
from tasks.study.config import ArchSpec, Config
from tasks.study.variants import TRAINING


def _ranges(r: Ranges) -> list:
    return r.to_json()[0] if len(r.intervals) == 1 else r.to_json()


def _training(t, sweep: dict[str, list] | None = None) -> dict[str, Any]:
    d = {**asdict(t), **(sweep or {})}
    d["bundle_size"] = auto(d["bundle_size"])
    return d


def _architectures(config: Config) -> list[dict[str, Any]]:
    """One entry per `architectures` entry: a sweep's variants back as the lists they came from."""
    groups: list[list[ArchSpec]] = []
    for a in config.architectures:
        if groups and a.swept and groups[-1][0].swept and groups[-1][0].entry == a.entry:
            groups[-1].append(a)
        else:
            groups.append([a])
    return [_architecture(group, config.training_sweep_json != "{}") for group in groups]


def _architecture(variants: list[ArchSpec], study_sweeps: bool) -> dict[str, Any]:
    first = variants[0]
    entry: dict[str, Any] = {"arch": first.arch}
    for a in variants:  # a key only some variants have (one that depends on a swept key) too
        for key, value in a.params.items():
            entry.setdefault(key, value)
    for key in first.swept:
        if not key.startswith(TRAINING):
            entry[key] = list(_distinct(a.swept[key] for a in variants))
    own = json.loads(first.overrides_json)
    if own or (first.training is not None and not study_sweeps):  # the entry's own `training`, as written
        entry["training"] = own
    return entry


def _distinct(values) -> list:
    out: list = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def _target(config: Config) -> Any:
    """`product` for the article's task; else the layout, its keys and the operation(s)."""
    first = config.target
    if first.identity() == "product" and len(config.targets) == 1:
        return "product"
    names = [t.operation.name for t in config.targets]
    shown = {k: v for k, v in first.params.items() if k != "operation"}
    return {"name": first.name, **shown, "operation": names[0] if len(names) == 1 else names}


def _horizon(h: HorizonConfig | None) -> Any:
    if h is None:
        return False
    tolerance = "success" if h.tolerance is None else h.tolerance
    return {"tolerance": tolerance, "max_scale": h.max_scale, "rounds": h.rounds, "rows": h.rows}


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
        "architectures": _architectures(config),
        "training": _training(config.training, json.loads(config.training_sweep_json)),
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
            "success": {**asdict(ev.success), "also": list(ev.success.also)},
            "probe_rows": ev.probe_rows,
            "fit_nrmse": ev.fit_nrmse,
            "horizon": _horizon(ev.horizon),
        },
        "resources": {
            "train_cpus": config.resources.train_cpus,
            "train_gpus": auto(config.resources.train_gpus),
            "checkpoint_minutes": config.resources.checkpoint_minutes,
        },
        "report": {"vector_formats": list(config.report.vector_formats)},
    }
    if config.reproduces:
        raw["reproduces"] = config.reproduces
    if config.deviations:
        raw["deviations"] = list(config.deviations)
    return raw


def config_yaml(config: Config) -> str:
    return yaml.safe_dump(config_to_raw(config), sort_keys=False, allow_unicode=True, width=100)
