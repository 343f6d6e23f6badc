"""Numerics fingerprint: a change that alters datasets, batches, trained weights, metrics or
coverage must come with a bump of NUMERICS_VERSION (tasks/core/ids.py), so that no output
directory ever mixes results of two numerics.

The fingerprint (tests/numerics_fingerprint.json) is recorded for one version. Exact parts
(sampled rows, batch indices) must match bit for bit; trained models are compared to a
relative 1e-3 — far below what any real change moves, far above float noise between CPUs.
After a deliberate change: bump the version, then `MLAB_RECORD_NUMERICS=1 python -m pytest
tests/test_numerics.py` rewrites the file.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest
from support import ROOT

from tasks.core.ids import NUMERICS_VERSION
from tasks.core.ranges import Ranges, coverage
from tasks.data.shards import generate_shard, table_rows
from tasks.data.spec import DatasetSpec
from tasks.evaluation.metrics import error_metrics, near_perfect_mse
from tasks.model import registry
from tasks.model.batches import batch_indices_np, stream_key
from tasks.model.inference import predict
from tasks.model.settings import TrainingConfig
from tasks.model.trainer import BundleData, train_bundle

FINGERPRINT = ROOT / "tests" / "numerics_fingerprint.json"
RTOL, ATOL = 1e-3, 1e-5
PARAMS = {  # small, quick models of every shipped architecture
    "mlp": {"hidden": [8]},
    "mlp_product_feature": {"hidden": [8]},
    "log_mlp": {"hidden": [8]},
    "stack": {"layers": ["nau", "nmu"], "sparsity_start": 40, "sparsity_end": 80},
}


def _sha(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


def fingerprint() -> dict:
    spec = DatasetSpec("train", Ranges.of((0.5, 2)), "uniform", 4096, 2048, 11)
    rows = np.concatenate([table_rows(generate_shard(spec, i)) for i in range(spec.n_shards)])
    keys = np.array([stream_key(s) for s in (0, 1, 7)], np.int64)
    exact = {
        "rows": _sha(np.column_stack([rows, rows[:, 0] * rows[:, 1]])),  # (a, b, y) as float32
        "batches": _sha(batch_indices_np(keys, 12_345, 128, 4096)),
    }
    windows = rows.reshape(2, 1, 2048, 2)  # two windows of one dataset: the window order is covered
    grid = np.stack(np.meshgrid(np.linspace(0.5, 4, 6), np.linspace(0.5, 4, 6)), -1).reshape(-1, 2)
    training = TrainingConfig("adam", 0.01, 64, 120, "mean", 40, 2048, "last", None)
    trained = {}
    for name in registry.shipped_names():
        arch = registry.get(name)
        _, params = registry.parse_architecture({"arch": name, **PARAMS.get(name, {})}, "x")
        data = BundleData([0, 0], [2048, 2048], lambda w: windows[w], rows[None, :500], first_window=1)
        out = train_bundle(arch, params, training, [3, 4], data)
        pred = predict(arch, params, out.weights, grid)
        target = grid[:, 0] * grid[:, 1]
        trained[name] = {
            "predictions": pred.round(6).tolist(),
            "val_mse": out.val_mse[-1].tolist(),
            "rmse": [error_metrics(target, p)["rmse"] for p in pred],
        }
    numbers = {
        "threshold": near_perfect_mse(grid[:, 0], grid[:, 1], 1e-5),
        "coverage_uniform": coverage(Ranges.of((0, 1)), Ranges.of((0, 5))),
        "coverage_log_uniform": coverage(Ranges.of((1, 10)), Ranges.of((1, 100)), "log_uniform"),
    }
    return {"version": NUMERICS_VERSION, "exact": exact, "trained": trained, "numbers": numbers}


def test_results_change_only_with_the_numerics_version(tf):
    now = fingerprint()
    if os.environ.get("MLAB_RECORD_NUMERICS") == "1":
        FINGERPRINT.write_text(json.dumps(now, indent=1) + "\n")
    recorded = json.loads(FINGERPRINT.read_text())
    how = "then rerun with MLAB_RECORD_NUMERICS=1 to record the new fingerprint"
    if recorded["version"] != NUMERICS_VERSION:
        pytest.fail(f"NUMERICS_VERSION is {NUMERICS_VERSION}, the fingerprint is for {recorded['version']}: {how}")
    changed = f"numerics changed while NUMERICS_VERSION stayed {NUMERICS_VERSION}: bump it in tasks/core/ids.py, {how}"
    assert now["exact"] == recorded["exact"], changed
    assert set(now["trained"]) == set(recorded["trained"]), changed
    for name, values in recorded["trained"].items():
        for key, expected in values.items():
            np.testing.assert_allclose(now["trained"][name][key], expected, rtol=RTOL, atol=ATOL, err_msg=changed)
    for key, expected in recorded["numbers"].items():
        assert now["numbers"][key] == pytest.approx(expected, rel=1e-9), changed
