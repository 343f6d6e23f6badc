"""What a finished study teaches this node's costs (pure): its phases and what its bundle
tasks measured of themselves, folded into the node's cached costs (tasks.study.costs).

Costs measured once per run (starting Ray) are the mean of the last few runs; those with a
fixed and a per-unit part (generating data, the last reduce, the results manifest, the
report by its panels) are fitted over the last few runs' points, keeping the default per-unit part
until two runs of different sizes tell them apart.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np

from tasks.study.costs import DEFAULTS, Costs, task_from_overheads, with_measured, worker_start

HISTORY = 8  # runs remembered per phase


def observe_run(
    costs: Costs,
    reduces: list[list[float]],
    phases: dict[str, float],
    tasks: list[dict[str, Any]],
    data: tuple[int, int] | None,
    cpus: int,
    report_panels: int = 1,
    report_weight: float = 1.0,
    sweeps: Sequence[float] = (),
) -> Costs:
    """The node's costs after a run: `reduces` (each architecture's reduce: [models, seconds]),
    `phases` (seconds by phase), `tasks` (each bundle task's
    seconds and facts: models, test_rows, trained, shape, step, watch, train_cpus), `data`
    (shards, rows generated; None when all were reused); earlier runs' points are in
    `costs.history`; `report_panels`: what the report's drawing grows with (costs.report_panels); `report_weight`:
    the share of an all-format report's time its formats take (costs.report_weight); `sweeps`: the
    seconds of each bundle-size calibration the run made (its median over recent runs' sweeps)."""
    history = {k: list(v) for k, v in costs.history.items()}

    def remember(name: str, point: list[float]) -> list[list[float]]:
        history[name] = [*history.get(name, []), point][-HISTORY:]
        return history[name]

    measured: dict[str, Any] = {}
    if "ray" in phases:
        measured["start"] = statistics.mean(p[0] for p in remember("start", [phases["ray"]]))
    if "report" in phases:
        points = [
            p for p in remember("report", [report_panels, phases["report"] / report_weight]) if len(p) == 2
        ]  # not older [s]
        measured["report"] = fit_line(points, DEFAULTS.report[1])
    if data and data[0] and "data" in phases:  # per shard: seconds on one CPU, its rows
        points = remember("shard", [data[1] / data[0], phases["data"] * cpus / data[0]])
        measured["shard"] = fit_line(points, DEFAULTS.shard[1])
    for seconds in sweeps:  # a calibration's sweep: its shape's candidates, compiled and timed on one slot
        measured["sweep"] = statistics.median(p[0] for p in remember("sweep", [seconds]))
    for point in reduces:  # the reduce's own seconds on its slot (not the wait after the last bundle)
        measured["reduce"] = fit_line(remember("reduce", point), DEFAULTS.reduce[1])
    if "results" in phases and tasks:
        measured["results"] = fit_line(remember("results", [len(tasks), phases["results"]]), DEFAULTS.results[1])
    if (start := worker_start(tasks)) is not None:  # the slowest of recent runs: one whose calibration had
        measured["worker"] = max(p[0] for p in remember("worker", [start]))  # warmed every worker took ms
    trained = [t for t in tasks if t.get("trained")]
    reads = [[t["read_bytes"], t["read"]] for t in trained if t.get("read_bytes") and "read" in t]
    for point in reads:  # a task's reading of its training rows: fixed, per byte
        measured["read"] = fit_line(remember("read", point), DEFAULTS.read[1])
    points = remember_tasks(history, trained) if trained else []
    if points:  # besides training: a fixed part and one per member × test row, over recent studies' tasks
        measured["task"] = fit_line(points, costs.task[1])
    measured.update(step_costs(trained, costs))
    return with_measured(costs, **measured, history=history)


def observe_process(costs: Costs, seconds: float) -> Costs:
    """The node's costs after a command measured what it spent around its study (its own
    start, stopping its Ray): the mean of the last few runs."""
    history = {k: list(v) for k, v in costs.history.items()}
    history["process"] = [*history.get("process", []), [seconds]][-HISTORY:]
    return with_measured(costs, process=statistics.mean(p[0] for p in history["process"]), history=history)


TASK_POINTS = 48  # task points remembered (a few per run: each bundle size's median)


def remember_tasks(history: dict[str, list[list[float]]], tasks: list[dict[str, Any]]) -> list[list[float]]:
    """Add this run's training tasks to the history: per distinct size (members × test rows),
    the median of their seconds besides training and reading their training rows (preparing,
    writing, evaluation, collection; dispatch and a worker's set-up are outside `total`); the
    points kept (under "work": the "task" points of older caches counted the reading too)."""
    by_size: dict[float, list[float]] = {}
    for t in tasks:
        if t.get("resumed_at", 0.0) > 0:  # its training seconds span every period, its total only this one
            continue
        read = t.get("read", 0.0) if t.get("read_bytes") else 0.0  # learned apart, per byte
        by_size.setdefault(float(t["models"] * t["test_rows"]), []).append(t["total"] - t.get("train", 0.0) - read)
    points = [[size, statistics.median(v)] for size, v in sorted(by_size.items())]
    kept = [p for p in [*history.get("work", []), *points] if p[1] >= 0]
    history["work"] = kept[-TASK_POINTS:]
    return history["work"]


def fit_line(points: list[list[float]], default_slope: float) -> tuple[float, float]:
    """(fixed, slope) of y = fixed + slope·x through the points (x, y), both ≥ 0: when the x
    span a factor of two or more, the median of the pairwise slopes and the median fixed part
    at it (Theil–Sen: the points come from different studies, and a few of one kind — tasks
    reading a 400 MB window, say — must not set the line for all; least squares let them turn
    the slope negative and the fixed part from 0.3 s to 1.8 s), else `default_slope` and the
    fixed part that matches the points on average."""
    x = np.array([p[0] for p in points], float)
    y = np.array([p[1] for p in points], float)
    if len(x) >= 2 and x.min() > 0 and x.max() >= 2 * x.min():
        i, j = np.triu_indices(len(x), k=1)
        apart = x[i] != x[j]
        slope = float(np.median((y[j] - y[i])[apart] / (x[j] - x[i])[apart]))
        fixed = float(np.median(y - slope * x))
        if slope >= 0 and fixed >= 0:
            return fixed, slope
        if slope >= 0:  # through the origin
            return 0.0, float(np.median(y / x))
    return max(0.0, float(np.mean(y - default_slope * x))), default_slope


def with_overheads(costs: Costs, overheads: dict[str, tuple[float, float]] | None) -> Costs:
    """`costs` with the evaluation and collection measurement (tasks.jobs.overheads), which
    also stands for a bundle task's non-training seconds until studies have measured them."""
    if not overheads:
        return costs
    evaluate, collect = tuple(overheads["evaluate"]), tuple(overheads["collect"])
    task = costs.task if "task" in costs.measured else task_from_overheads(evaluate, collect, DEFAULTS.task[0])
    return with_measured(costs, evaluate=evaluate, collect=collect, task=task)


CLEAN = 4  # a task's training measures its rate when it lasts this many times its first call


def trained_share(t: dict[str, Any]) -> float:
    """The share of its steps a task trained itself: less than 1 when it resumed from a
    checkpoint an earlier working period saved (its seconds cover only the steps after it)."""
    return max(0.0, 1.0 - t.get("resumed_at", 0.0) / t["steps"]) if t["steps"] else 1.0


def step_costs(trained: list[dict[str, Any]], costs: Costs) -> dict[str, Any]:
    """Per step shape: the training rate inside tasks (as if nothing were watched, per CPU),
    from tasks long enough that compiling is a small part of them; and the compile time, what
    a shape's slowest task spent beyond its steps at that rate (the step's first call, the
    validation and probe functions' first calls), else its first call's excess."""
    rates: dict[str, dict[str, list[float]]] = {}
    for t in trained:
        if t.get("model_steps_per_s", 0) > 0 and t["train"] >= CLEAN * t.get("compile", 0.0):
            rate = t["model_steps_per_s"] * t["watch"] / t["train_cpus"]
            rates.setdefault(t["shape"], {}).setdefault(str(t["step"]), []).append(rate)
    clean = {s: {k: statistics.median(v) for k, v in by.items()} for s, by in rates.items()}
    compiles: dict[str, float] = {}
    for t in trained:
        known = clean.get(t["shape"]) or costs.rates.get(t["shape"])
        spent = t.get("compile", 0.0)
        if known:  # beyond its steps at that rate; never more than its first call took (a rate a
            # little off would otherwise turn a long task's hours into "compilation")
            rate = known[min(known, key=lambda k: abs(int(k) - t["step"]))] / t["watch"] * t["train_cpus"]
            beyond = max(0.0, t["train"] - t["models"] * t["steps"] * trained_share(t) / rate)
            spent = min(beyond, spent) if spent > 0 else beyond
        compiles[t["shape"]] = max(compiles.get(t["shape"], 0.0), spent)
    out: dict[str, Any] = {"compiles": compiles, "rates": clean}
    # per shape: its step's calls at each log point beyond the calibrated arithmetic
    overheads: dict[str, list[float]] = {}
    for t in trained:
        if t.get("rate_ref", 0) > 0 and t.get("logs") and (share := trained_share(t)) > 0:
            arithmetic = t["models"] * t["steps"] * share * t["watch"] / (t["rate_ref"] * t["train_cpus"])
            calls = -(-t["models"] // t["step"]) * t["logs"] * share
            overheads.setdefault(t["shape"], []).append((t["train"] - t.get("compile", 0.0) - arithmetic) / calls)
    if overheads:
        out["steps"] = {shape: max(0.0, statistics.median(v)) for shape, v in overheads.items()}
    return out
