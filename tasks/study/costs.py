"""What a study pays besides its training steps, measured on this kind of node and remembered
(like the bundle-size calibration, tasks.model.calibration): the fixed costs that size the
bundles (tasks.study.bundles) and, with the training rates, the dry run's estimate
(tasks.study.estimate).

Three sources, each cached per node kind (CPU or GPU model) in `costs.json` of the node's
cache directory (MLAB_CACHE_DIR, else ~/.cache/multiplication-lab):

- a short measurement of the lab's own evaluation and collection code on synthetic models of
  two sizes, run once per node kind before the first study sizes its bundles
  (tasks.jobs.overheads): their fixed part per bundle and their part per model, which stand
  for a bundle task's non-training seconds until studies have measured them;
- what every study's tasks say of themselves (tasks.study.observe): a bundle task's seconds
  besides training and reading, fitted over the tasks of recent studies as a fixed part and a
  part per member and test row (bundles of different sizes tell them apart), its reading of
  its training rows as a fixed part and one per byte, a fresh worker's start,
  each architecture's compilation and training rate inside the task;
- the study's own phases: starting Ray, generating data, results, report; each architecture's
  reduce (a task on a slot: fixed, per model);
  and the command's own start and its Ray's stop around them (tasks.cli.commands).

A node that never ran a study uses DEFAULTS (conservative figures of this project's machines)
until it has.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from typing import Any

FIXED_SHARE = 0.10  # a bundle task's fixed cost is at most this share of the task


@dataclass(frozen=True)
class Costs:
    """Seconds, on one node kind. (fixed, per unit) pairs: per task and per its unit."""

    start: float = 8.0  # the study's Ray: started here, or connected to
    process: float = 2.5  # the command around the study: its start (imports) and stopping its Ray
    worker: float = 8.0  # a fresh worker's first model task: imports, TensorFlow
    compile: float = 2.0  # tracing and compiling one training step shape in a worker (unknown architecture)
    dispatch: float = 0.005  # from submission to a bundle task's start in a warm worker (Ray's own)
    task: tuple[float, float] = (0.25, 1e-6)  # a bundle task besides training and reading: fixed, per member × test row
    read: tuple[float, float] = (0.05, 5e-9)  # a bundle task reading its training rows: fixed, per byte
    step: float = 0.005  # a compiled step's calls at each log point beyond their arithmetic: a shape not in `steps`
    evaluate: tuple[float, float] = (0.02, 2e-7)  # fixed, per member × test row
    collect: tuple[float, float] = (0.08, 1e-4)  # fixed, per model
    shard: tuple[float, float] = (0.15, 1e-7)  # generating a shard: fixed, per row
    sweep: float = 45.0  # one bundle-size calibration on one slot, once learned (before: estimate.sweep_seconds)
    reduce: tuple[float, float] = (1.0, 5e-4)  # an architecture's reduce task: fixed, per model (0.3–0.8 ms measured)
    results: tuple[float, float] = (0.2, 2e-3)  # the results manifest: fixed, per part
    report: tuple[float, float] = (4.0, 0.3)  # drawing the report: fixed, per panel (report_panels)
    compiles: dict[str, float] = field(default_factory=dict)  # shape key → seconds
    rates: dict[str, dict[str, float]] = field(default_factory=dict)  # shape key → step size → model-steps/s
    steps: dict[str, float] = field(default_factory=dict)  # shape key → seconds per log point (as `step`)
    measured: tuple[str, ...] = ()  # which fields this node measured (the others: DEFAULTS)
    history: dict[str, list[list[float]]] = field(default_factory=dict)  # recent runs' points, by phase

    def compile_of(self, shape: str) -> float:
        return self.compiles.get(shape, self.compile)

    def step_of(self, shape: str) -> float:
        return self.steps.get(shape, self.step)


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


# `step` was once learned over every shape at once: one memory-bound shape's residual then stood
# for all of them (1.7 s per log point); it is learned per shape now (`steps`), a cached one ignored.
# (A cached `summarise`, once the wait after the last bundle — milliseconds, as the reduces ran
# while bundles trained — is no field any more: `reduce` is each reduce task's own seconds.)
NOT_CACHED = ("step",)


def from_json(entry: dict[str, Any]) -> Costs:
    """A cached entry; a field whose shape changed since it was cached (a number that is now
    a pair) keeps its default until measured again."""
    fields = {k: v for k, v in entry.items() if k in Costs.__dataclass_fields__ and k not in NOT_CACHED}
    known = {k: v for k, v in fields.items() if isinstance(v, (list, tuple)) == isinstance(getattr(DEFAULTS, k), tuple)}
    pairs = {k: tuple(v) for k, v in known.items() if isinstance(v, (list, tuple))}
    said = tuple(
        m
        for m in known.get("measured", ())
        if m in Costs.__dataclass_fields__ and m not in NOT_CACHED and (m in known or m not in fields)
    )
    return replace(DEFAULTS, **{**known, **pairs, "measured": said})


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
    merged = {
        "compiles": {**costs.compiles, **values.pop("compiles", {})},
        "steps": {**costs.steps, **values.pop("steps", {})},
    }
    history = values.pop("history", costs.history)
    rates = {shape: dict(by_size) for shape, by_size in costs.rates.items()}
    for shape, by_size in values.pop("rates", {}).items():
        rates.setdefault(shape, {}).update(by_size)
    said = {*costs.measured, *values, *(k for k, v in merged.items() if v), *(["rates"] if rates else [])}
    return replace(costs, **values, **merged, rates=rates, history=history, measured=tuple(sorted(said)))


def report_panels(architectures: int, train_ranges: int) -> int:
    """What a report's drawing time grows with: its figures hold a panel or a line per
    architecture and training range."""
    return max(1, architectures * train_ranges)


# Each format's share of drawing a report in all of them (measured 2026-12-01, Intel Xeon family 6
# model 167, the smoke report: layout + PNG 1.7 s, SVG 0.6 s, PDF 1.7 s of 4.0 s). Report costs are
# learned per all-format report, so studies drawing fewer formats teach and use the same line.
FORMAT_SHARE = {"png": 0.43, "svg": 0.15, "pdf": 0.42}


def report_weight(vector_formats: tuple[str, ...]) -> float:
    """A report's drawing time as a fraction of the all-format report's (PNG is always drawn)."""
    return FORMAT_SHARE["png"] + sum(FORMAT_SHARE[f] for f in vector_formats)


def report_seconds(costs: Costs, architectures: int, train_ranges: int, vector_formats: tuple[str, ...]) -> float:
    line = costs.report[0] + costs.report[1] * report_panels(architectures, train_ranges)
    return line * report_weight(vector_formats)


def read_seconds(costs: Costs, window_bytes: float) -> float:
    """A bundle task's reading of its training rows (none where batches are drawn in the step)."""
    return costs.read[0] + costs.read[1] * window_bytes if window_bytes > 0 else 0.0


def task_fixed(costs: Costs) -> float:
    """A bundle task's fixed seconds: dispatch, its other reads and its writes, and the fixed
    parts of its evaluation and collection (its training rows: `read_seconds`). A step shape
    compiles once per worker, not per task (its
    members always train `step_size` at a time), so compilation is not part of it."""
    return costs.dispatch + costs.task[0]


def per_model(costs: Costs, train_seconds: float, test_rows: float) -> float:
    """A model's seconds in its bundle task: its training, then evaluating it on `test_rows`
    rows and collecting its rows."""
    return train_seconds + costs.task[1] * test_rows


REFERENCE_ROWS = 650  # test rows per member of the overheads measurement (3 sets of 200, a 50-point diagonal)


def task_from_overheads(evaluate: tuple[float, float], collect: tuple[float, float], io: float) -> tuple[float, float]:
    """A bundle task's (fixed, per member × test row) seconds from the evaluation and
    collection measurement (tasks.jobs.overheads) and the reading and writing around them."""
    return evaluate[0] + collect[0] + io, evaluate[1] + collect[1] / REFERENCE_ROWS


def members_for_fixed_share(fixed: float, model: float, share: float = FIXED_SHARE) -> int:
    """The fewest members whose work makes `fixed` at most `share` of their task."""
    if model <= 0:
        return 1
    return max(1, -int(-(fixed * (1 - share) / share) // model))


def worker_start(tasks: list[dict[str, Any]]) -> float | None:
    """The slowest start of a task that found a slot free (`queued` false): a fresh worker's
    spawn and imports, or a few milliseconds where a calibration had started the worker."""
    free = [t.get("setup", 0.0) + t["dispatch"] for t in tasks if not t.get("queued")]
    return max(free) if free else None
