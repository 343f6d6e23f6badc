"""The fixed and per-model seconds of a bundle's evaluation and collection on this node,
measured through the lab's own code (tasks.evaluation.evaluate, tasks.jobs.collect) on
synthetic models of two sizes: a bundle's fixed cost cannot be told apart from its models'
cost inside one study, whose bundles are all about the same size. Run once per node kind,
before the first study sizes its bundles; cached with the other costs (tasks.study.costs).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pyarrow as pa

SIZES = (8, 512)  # members of the two synthetic bundles
TEST_ROWS, RANGES, DIAGONAL = 200, 3, 50  # a scale study's evaluation: 3 sets of 200 rows, 50 diagonal points
STEPS = (50, 100)  # logged steps of the synthetic curves and probes
REPEATS = 3  # best of: a busy machine is noisy


def synthetic_plan(members: int):
    from tasks.study.config import parse_config
    from tasks.study.plan import make_plan

    config = {
        "name": "overheads",
        "seeds": {"start": 0, "count": members},
        "data": {"train_size": 1000, "val_size": 100, "shard_rows": 1000},
        "train_ranges": [[0, 1]],
        "architectures": [{"arch": "mlp", "hidden": [8]}],
        "training": {"steps": STEPS[-1], "log_every": STEPS[0]},
        "evaluation": {
            "scales": [1, 2, 10][:RANGES],
            "size": TEST_ROWS,
            "probe_rows": 10,
            "diagonal": {"points": DIAGONAL},
        },
    }
    return make_plan(parse_config(config))


def _timed(fn) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def bundle_work(members: int) -> tuple[float, float, int]:
    """(evaluation seconds, collection seconds, test rows per member) of one synthetic bundle."""
    from tasks.evaluation.evaluate import evaluate_models
    from tasks.jobs.collect import tables_of
    from tasks.model import registry
    from tasks.model.trainer import init_weights
    from tasks.store.catalog import BundleManifest, Member
    from tasks.study.bundles import make_eval_job
    from tasks.study.plan import identity_columns

    plan = synthetic_plan(members)
    arch = plan.config.architectures[0]
    unit = registry.get(arch.arch)
    models = plan.models
    weights = init_weights(unit, arch.params, [m.seed for m in models], 2)
    rng = np.random.default_rng(0)
    test_sets = {d: rng.uniform(0, 10, (TEST_ROWS, 2)).astype(np.float32) for d in plan.datasets}
    job = make_eval_job("b-overheads", models, plan.config)
    tables: dict[str, pa.Table] = {}

    def evaluate() -> None:
        tables["metrics"], tables["diagonal"] = evaluate_models(unit, arch.params, weights, job, test_sets)

    evaluate_s = _timed(evaluate)
    ids = [m.model_id for m in models]
    steps = np.array(STEPS, np.int64)
    tables["curves"] = pa.table(
        {
            "model_id": np.repeat(ids, len(steps)),
            "step": np.tile(steps, len(ids)),
            "train_mse": rng.uniform(size=len(ids) * len(steps)),
            "val_mse": rng.uniform(size=len(ids) * len(steps)),
        }
    )
    labels = [e.ranges.label() for e in models[0].evals]
    tables["probes"] = pa.table(
        {
            "model_id": np.repeat(ids, len(labels) * len(steps)),
            "step": np.tile(steps, len(ids) * len(labels)),
            "eval_range": np.tile(np.repeat(labels, len(steps)), len(ids)),
            "mse": rng.uniform(size=len(ids) * len(labels) * len(steps)),
        }
    )
    manifest = BundleManifest(
        "b-overheads",
        arch.arch,
        arch.params,
        {"steps": STEPS[-1]},
        tuple(Member(i, 0, "d", -1, 1) for i in ids),
        {},
        1.0,
        0.1,
        1e5,
        0.0,
        "",
        "cpu",
        {},
        0.0,
        0,
    )

    def collect() -> None:
        ident = pd.DataFrame(identity_columns(models))
        for frame in tables_of(manifest, ident, tables, 0.05).values():
            pa.Table.from_pandas(frame, preserve_index=False)

    rows = sum(TEST_ROWS for _ in models[0].evals) + DIAGONAL
    return evaluate_s, _timed(collect), rows


def measure_overheads() -> dict[str, tuple[float, float]]:
    """{"evaluate": (fixed, per member × test row), "collect": (fixed, per model)} in seconds,
    from the two synthetic bundles (a straight line through both)."""
    small, large = (bundle_work(n) for n in SIZES)
    rows = small[2]
    n0, n1 = SIZES
    out = {}
    for name, i, unit in (("evaluate", 0, rows), ("collect", 1, 1)):
        slope = max(0.0, (large[i] - small[i]) / ((n1 - n0) * unit))
        out[name] = (max(0.0, small[i] - slope * n0 * unit), slope)
    return out
