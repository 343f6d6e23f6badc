"""What a study pays besides its training steps, measured on this kind of node and remembered
(like the bundle-size calibration, tasks.model.calibration): the fixed costs that size the
bundles (tasks.study.bundles) and, with the training rates, the dry run's estimate
(tasks.study.estimate).

Three sources, each cached per node kind (CPU or GPU model) in `costs.json` of the node's
cache directory (MLAB_CACHE_DIR, else ~/.cache/multiplication-lab):

- a short measurement of the lab's own evaluation and collection code on synthetic models of
  two sizes, run once per node kind before the first study sizes its bundles
  (tasks.jobs.overheads): their fixed part per bundle and their part per model;
- what every study's tasks say of themselves: dispatch, reading and writing, the part of a
  bundle task that does not grow with its models, a fresh worker's start, each architecture's
  compilation and training rate inside the task (`observe`);
- the study's own phases: starting Ray, generating data, the last reduce, results, report.

A node that never ran a study uses DEFAULTS (conservative figures of this project's machines)
until it has.
"""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import asdict, dataclass, field, replace
from typing import Any

FIXED_SHARE = 0.10  # a bundle task's fixed cost is at most this share of the task


@dataclass(frozen=True)
class Costs:
    """Seconds, on one node kind. (fixed, per unit) pairs: per task and per its unit."""

    start: float = 8.0  # the study's Ray: started here, or connected to
    worker: float = 8.0  # a fresh worker's first model task: imports, TensorFlow
    compile: float = 2.0  # tracing and compiling one training step shape in a worker (unknown architecture)
    dispatch: float = 0.005  # from submission to a bundle task's start in a warm worker (Ray's own)
    task: float = 0.15  # a bundle task's part that does not grow with its models (reading, writing, set-up)
    step: float = 0.005  # a compiled step's calls at each log point, beyond their arithmetic (per step of members)
    evaluate: tuple[float, float] = (0.02, 2e-7)  # fixed, per member × test row
    collect: tuple[float, float] = (0.08, 1e-4)  # fixed, per model
    shard: tuple[float, float] = (0.15, 1e-7)  # generating a shard: fixed, per row
    summarise: tuple[float, float] = (1.0, 2e-5)  # an architecture's reduce: fixed, per model
    results: tuple[float, float] = (0.2, 2e-3)  # the results manifest: fixed, per part
    report: float = 8.0
    compiles: dict[str, float] = field(default_factory=dict)  # shape key → seconds
    rates: dict[str, dict[str, float]] = field(default_factory=dict)  # shape key → step size → model-steps/s
    measured: tuple[str, ...] = ()  # which fields this node measured (the others: DEFAULTS)
    history: dict[str, list[list[float]]] = field(default_factory=dict)  # recent runs' points, by phase

    def compile_of(self, shape: str) -> float:
        return self.compiles.get(shape, self.compile)


DEFAULTS = Costs()
CACHE_FILE = "costs.json"


def _path():
    from tasks.model.calibration import cache_dir

    return cache_dir() / CACHE_FILE


def node_kind(on_gpu: bool = False) -> str:
    from tasks.model.calibration import device_name

    return device_name(on_gpu)


def load_costs(on_gpu: bool = False, kind: str | None = None) -> Costs:
    """This node kind's costs: what it measured, DEFAULTS for the rest."""
    try:
        entry = json.loads(_path().read_text())[kind or node_kind(on_gpu)]
        return from_json(entry)
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULTS


def from_json(entry: dict[str, Any]) -> Costs:
    known = {k: v for k, v in entry.items() if k in Costs.__dataclass_fields__}
    pairs = {k: tuple(v) for k, v in known.items() if isinstance(v, list)}
    return replace(DEFAULTS, **{**known, **pairs, "measured": tuple(known.get("measured", ()))})


def store_costs(costs: Costs, on_gpu: bool = False, kind: str | None = None) -> None:
    """Into the node's cache (a temporary name, then renamed)."""
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError):
        entries = {}
    entries[kind or node_kind(on_gpu)] = asdict(costs)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(entries, indent=1, sort_keys=True))
    tmp.replace(path)


def with_measured(costs: Costs, **values: Any) -> Costs:
    """`costs` with these fields measured (None: left as they were)."""
    values = {k: v for k, v in values.items() if v is not None}
    merged = {"compiles": {**costs.compiles, **values.pop("compiles", {})}}
    history = values.pop("history", costs.history)
    rates = {shape: dict(by_size) for shape, by_size in costs.rates.items()}
    for shape, by_size in values.pop("rates", {}).items():
        rates.setdefault(shape, {}).update(by_size)
    said = {*costs.measured, *values, *(["compiles"] if merged["compiles"] else []), *(["rates"] if rates else [])}
    return replace(costs, **values, **merged, rates=rates, history=history, measured=tuple(sorted(said)))


def task_fixed(costs: Costs) -> float:
    """A bundle task's fixed seconds: dispatch, its reads and writes, and the fixed parts of
    its evaluation and collection. A step shape compiles once per worker, not per task (its
    members always train `step_size` at a time), so compilation is not part of it."""
    return costs.dispatch + costs.task + costs.evaluate[0] + costs.collect[0]


def per_model(costs: Costs, train_seconds: float, test_rows: float) -> float:
    """A model's seconds in its bundle task: its training, evaluating it on `test_rows` rows
    and collecting its rows."""
    return train_seconds + costs.evaluate[1] * test_rows + costs.collect[1]


def members_for_fixed_share(fixed: float, model: float, share: float = FIXED_SHARE) -> int:
    """The fewest members whose work makes `fixed` at most `share` of their task."""
    if model <= 0:
        return 1
    return max(1, -int(-(fixed * (1 - share) / share) // model))


def task_residuals(tasks: list[dict[str, float]], costs: Costs) -> dict[str, float]:
    """From the study's bundle tasks (their `seconds` by part, with `models`, `test_rows`,
    and `queued`: submitted while every slot was busy): the median fixed part of a task
    (everything but training and the per-model parts of evaluation and collection), and the
    slowest start of a task that found a slot free (a fresh worker's spawn and imports)."""
    fixed = [
        t["total"]
        - t["train"]
        - costs.evaluate[1] * t["test_rows"] * t["models"]
        - costs.collect[1] * t["models"]
        - costs.evaluate[0]
        - costs.collect[0]
        for t in tasks
        if t.get("trained")
    ]
    out: dict[str, float] = {}
    if fixed:
        out["task"] = max(0.0, statistics.median(fixed))
    free = [t.get("setup", 0.0) + t["dispatch"] for t in tasks if not t.get("queued")]
    if free:
        out["worker"] = max(free)
    return out
