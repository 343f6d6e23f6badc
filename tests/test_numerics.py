"""Stage fingerprints: a change that alters what a stage writes must come with a bump of that
stage's version (tasks.core.ids lists them), so that no output directory ever reuses an
artifact its code would now write differently.

    data      DATA_VERSION        the rows of three datasets (sampling, shards, stored y)
    train     TRAIN_VERSION       batch indices; every shipped architecture trained on fixed rows
    evaluate  EVALUATION_VERSION  the tables of fixed models under every success rule; coverage
    collect   COLLECT_VERSION     the study tables and aggregates collected from fixed evaluations
    report    REPORT_VERSION      the report's text (Markdown; HTML without its images)

Each stage is fed inputs that no other stage's code makes (numpy draws, fixed weights, a tiny
architecture defined here), so a change shows in the fingerprint of its own stage. The report
reads what collection makes; its entry records that input's hash, and when only the input
moved it asks for a new recording, not a bump.

Each fingerprint (tests/numerics_fingerprint.json) is recorded for one version of its stage.
Exact parts (rows, batch indices, labels, counts, text) must match bit for bit, numbers to a
relative tolerance far below what a real change moves and far above float noise between CPUs.
After a deliberate change: bump the stage's version, then `MLAB_RECORD_NUMERICS=1 python -m
pytest tests/test_numerics.py -k <stage>` rewrites that stage's entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from support import ROOT

from tasks.core.ranges import Ranges, coverage
from tasks.data.shards import generate_shard, table_rows
from tasks.data.spec import DATA_VERSION, DatasetSpec
from tasks.data.targets import PRODUCT
from tasks.evaluation.job import EVALUATION_VERSION, DiagonalConfig, EvalJob, EvalModel, EvalRange
from tasks.evaluation.success import REGISTRY as RULES
from tasks.evaluation.success import SuccessConfig
from tasks.jobs.collect import COLLECT_VERSION, PartJob, collect_part, summarise_parts
from tasks.model.architecture import Architecture
from tasks.model.settings import TRAIN_VERSION, TrainingConfig
from tasks.report.aggregates import Summary
from tasks.report.page import REPORT_VERSION
from tasks.store import catalog
from tasks.store.catalog import BundleManifest, EvalManifest, Member
from tasks.store.storage import Store

FINGERPRINT = ROOT / "tests" / "numerics_fingerprint.json"
VERSIONS = {
    "data": ("DATA_VERSION", "tasks/data/spec.py", DATA_VERSION),
    "train": ("TRAIN_VERSION", "tasks/model/settings.py", TRAIN_VERSION),
    "evaluate": ("EVALUATION_VERSION", "tasks/evaluation/job.py", EVALUATION_VERSION),
    "collect": ("COLLECT_VERSION", "tasks/jobs/collect.py", COLLECT_VERSION),
    "report": ("REPORT_VERSION", "tasks/report/page.py", REPORT_VERSION),
}
TOLERANCE = {"train": (1e-3, 1e-5), "evaluate": (1e-5, 1e-9), "collect": (1e-9, 1e-12)}  # (rtol, atol)


def _sha(data: bytes | np.ndarray) -> str:
    raw = np.ascontiguousarray(data).tobytes() if isinstance(data, np.ndarray) else data
    return hashlib.sha256(raw).hexdigest()[:16]


def _frame(df: pd.DataFrame) -> tuple[dict[str, Any], dict[str, Any]]:
    """A table as (exact: its columns and non-float values, close: its float columns)."""
    exact: dict[str, Any] = {"columns": list(df.columns)}
    close: dict[str, Any] = {}
    for name in df.columns:
        column = df[name]
        if pd.api.types.is_float_dtype(column):
            close[name] = column.to_numpy(np.float64).tolist()
        else:
            exact[name] = [None if pd.isna(v) else v.item() if hasattr(v, "item") else v for v in column]
    return exact, close


def _frames(tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    out: dict[str, Any] = {"exact": {}, "close": {}}
    for name, df in tables.items():
        out["exact"][name], close = _frame(df)
        out["close"].update({f"{name}.{column}": values for column, values in close.items()})
    return out


# ---- data: rows drawn by the lab's sampling ------------------------------------------------
def data_fingerprint(_: Path) -> dict[str, Any]:
    specs = {
        "uniform": DatasetSpec("train", Ranges.of((0.5, 2)), "uniform", 4096, 2048, 11),
        "union": DatasetSpec("test", Ranges.of((-2, -1), (1, 2)), "uniform", 1000, 1000, 11),
        "log_uniform": DatasetSpec("val", Ranges.of((0.1, 10)), "log_uniform", 1000, 400, 3),
    }
    exact = {}
    for name, spec in specs.items():
        rows = np.concatenate([table_rows(generate_shard(spec, i), with_y=True) for i in range(spec.n_shards)])
        exact[name] = _sha(rows)  # (a, b, stored y) as float32
    return {"exact": exact, "close": {}}


# ---- train: rows from numpy, not from the data stage ----------------------------------------
TRAIN_PARAMS = {  # small, quick models of every shipped architecture
    "mlp": {"hidden": [8]},
    "mlp_product_feature": {"hidden": [8]},
    "log_mlp": {"hidden": [8]},
    "stack": {"layers": ["nau", "nmu"], "sparsity_start": 40, "sparsity_end": 80},
}


def train_fingerprint(_: Path) -> dict[str, Any]:
    from tasks.model import registry
    from tasks.model.batches import batch_indices_np, stream_key
    from tasks.model.inference import predict
    from tasks.model.trainer import BundleData, train_bundle

    rows = np.random.default_rng(11).uniform(0.5, 2, (4096, 2)).astype(np.float32)
    keys = np.array([stream_key(s) for s in (0, 1, 7)], np.int64)
    exact = {"batches": _sha(batch_indices_np(keys, 12_345, 128, 4096))}
    windows = rows.reshape(2, 1, 2048, 2)  # two windows of one dataset: the window order is covered
    grid = np.stack(np.meshgrid(np.linspace(0.5, 4, 6), np.linspace(0.5, 4, 6)), -1).reshape(-1, 2)
    training = TrainingConfig("adam", 0.01, 64, 120, "mean", 40, 2048, "last", None)
    close = {}
    for name in registry.shipped_names():
        arch = registry.get(name)
        _, params = registry.parse_architecture({"arch": name, **TRAIN_PARAMS.get(name, {})}, "x")
        data = BundleData([0, 0], [2048, 2048], lambda w: windows[w], rows[None, :500], first_window=1)
        out = train_bundle(arch, params, training, [3, 4], data)
        close[f"{name}.predictions"] = predict(arch, params, out.weights, grid).round(6).tolist()
        close[f"{name}.val_mse"] = out.val_mse[-1].tolist()
    return {"exact": exact, "close": close}


# ---- evaluate: fixed weights of a model defined here ----------------------------------------
@dataclass(frozen=True)
class Bilinear(Architecture):
    """y = p·a·b + q·(a + b) + c: weights set by hand stand in for a trained model, and its
    forward pass is this file's, so this fingerprint moves with evaluation's code alone."""

    def forward(self, params, w, x):
        return w["p"] * x[..., 0] * x[..., 1] + w["q"] * (x[..., 0] + x[..., 1]) + w["c"]


def evaluate_fingerprint(_: Path) -> dict[str, Any]:
    from tasks.evaluation.evaluate import evaluate_models

    weights = {  # an exact multiplier, a near one, a poor one
        "p": np.array([[1.0], [0.999], [1.3]], np.float32),
        "q": np.array([[0.0], [0.001], [-0.2]], np.float32),
        "c": np.array([[0.0], [0.0], [0.5]], np.float32),
    }
    rng = np.random.default_rng(5)
    train = Ranges.of((0.5, 2))
    ranges = {"in": train, "wide": Ranges.of((0.5, 4)), "union": Ranges.of((-2, -1), (1, 2))}
    test_sets = {
        "in": rng.uniform(0.5, 2, (300, 2)),
        "wide": rng.uniform(0.5, 4, (300, 2)),
        "union": rng.choice([-1, 1], (300, 2)) * rng.uniform(1, 2, (300, 2)),
    }
    evals = tuple(EvalRange("square", r, name, coverage(train, r)) for name, r in ranges.items())
    models = tuple(EvalModel(f"m-{k}", k, train, evals, PRODUCT) for k in range(3))
    diagonal = DiagonalConfig(0.0, 4.0, 40, (Ranges.of((0, 2)), Ranges.of((2, 4))))
    tables = {}
    for rule in sorted(RULES):
        job = EvalJob.of("b-fingerprint", models, diagonal, SuccessConfig(rule, 1e-3, 20_000), "uniform")
        metrics, diag = evaluate_models(Bilinear("bilinear"), {}, weights, job, test_sets)
        tables[f"metrics_{rule}"] = metrics.to_pandas()
        tables["diagonal"] = diag.to_pandas()
    out = _frames(tables)
    out["close"]["coverage"] = [
        coverage(Ranges.of((0, 1)), Ranges.of((0, 5))),
        coverage(Ranges.of((1, 10)), Ranges.of((1, 100)), "log_uniform"),
        coverage(train, ranges["union"]),
    ]
    return out


# ---- collect: evaluations, curves and probes drawn here -------------------------------------
ARCHS = {
    "mlp": ("mlp(hidden=8)", {"param_hidden": "8"}),
    "stack": ("stack(layers=nau,nmu)", {"param_layers": "nau,nmu"}),
}
SQUARES = {"[0,1]": ("[0,1]", "[0,2]", "[0,10]"), "[1,2]": ("[1,2]", "[1,3]", "[0,10]")}  # training → evaluation
SEGMENTS = ("[0,1]", "[1,5]")  # of the diagonal
STEPS = (100, 200, 300)
ERRORS = ("rmse", "mae", "max_abs_err", "rel_err_median", "nrmse", "mse")  # NaN for a diverged model


def _bounds(label: str) -> tuple[float, float]:
    lo, hi = label.strip("[]").split(",")
    return float(lo), float(hi)


def _evaluation_rows(model_id: str, train: str, scale: float, rng: np.random.Generator) -> list[dict[str, Any]]:
    """A model's rows of an evaluation's metrics table: every training → evaluation range and
    diagonal segment, errors growing with the distance from the training range."""
    rows = []
    t_lo, t_hi = _bounds(train)
    ranges = [("square", e) for e in SQUARES[train]] + [("diagonal", s) for s in SEGMENTS]
    for j, (kind, label) in enumerate(ranges):
        lo, hi = _bounds(label)
        rmse = scale * 10.0 ** (j % 3) * rng.uniform(0.3, 3)
        inside = max(0.0, min(hi, t_hi) - max(lo, t_lo)) / (hi - lo)
        threshold = (scale * 2) ** 2
        rows.append(
            {"model_id": model_id, "eval_kind": kind, "eval_range": label, "eval_lo": lo, "eval_hi": hi}
            | {"coverage": inside ** (2 if kind == "square" else 1), "n": 200, "rmse": rmse, "mae": rmse * 0.8}
            | {"max_abs_err": rmse * 3, "rel_err_median": rmse / 2, "nrmse": rmse / (t_hi + 0.5), "mse": rmse**2}
            | {"threshold": threshold, "success": bool(rmse**2 < threshold), "sparsity_error": rng.uniform(0, 0.1)}
        )
    return rows


def _write(store: Store, path: str, rows: list[dict[str, Any]] | pd.DataFrame) -> Any:
    return store.write_parquet(path, pa.Table.from_pandas(pd.DataFrame(rows), preserve_index=False))


def collected(directory: Path) -> tuple[dict[str, pd.DataFrame], Summary]:
    """Collection of two architectures' evaluations, one bundle each (two training ranges ×
    three seeds; one model diverged): the study tables, and the study's aggregates."""
    store = Store(str(directory))
    rng = np.random.default_rng(7)
    parts: dict[str, list[pd.DataFrame]] = {}
    summaries = []
    for a, (arch, (label, params)) in enumerate(ARCHS.items()):
        ident = tuple(
            {"model_id": f"m-{arch}-{train}-{seed}", "arch": arch, "arch_label": label, "unit_label": label}
            | {"operation": "mul", "seed": seed}
            | {"train_range": train, "train_lo": _bounds(train)[0], "train_hi": _bounds(train)[1], **params}
            for train in SQUARES
            for seed in range(3)
        )
        diverged = ident[4]["model_id"] if a == 1 else None
        metrics, diagonal, curves, probes = [], [], [], []
        for m in ident:
            scale = 10.0 ** rng.uniform(-4, -0.5)
            rows = _evaluation_rows(m["model_id"], m["train_range"], scale, rng)
            failed = dict.fromkeys(ERRORS, np.nan) | {"success": False}
            metrics += [r | failed for r in rows] if m["model_id"] == diverged else rows
            x = np.linspace(0.05, 4.95, 8)
            y_pred = x * x + rng.normal(0, scale, len(x))
            diagonal += [{"model_id": m["model_id"], "x": v, "y_true": v * v, "y_pred": p} for v, p in zip(x, y_pred)]
            for step in STEPS:
                mse = scale**2 * 1000 / step * rng.uniform(0.5, 2, 2)
                curves.append({"model_id": m["model_id"], "step": step, "train_mse": mse[0], "val_mse": mse[1]})
                probes += [
                    {"model_id": m["model_id"], "step": step, "eval_range": e, "mse": mse[0] * 10.0**j}
                    for j, e in enumerate(SQUARES[m["train_range"]])
                ]
        bundle_id, eval_id = f"b-{arch}", f"ev-{arch}"
        bundle = BundleManifest(
            bundle_id=bundle_id,
            arch=arch,
            params={},
            training={"steps": STEPS[-1]},
            members=tuple(
                Member(m["model_id"], m["seed"], "ds-x", 150 if m["model_id"] == diverged else -1, STEPS[-1])
                for m in ident
            ),
            files={
                "curves": _write(store, catalog.bundle_file(bundle_id, "curves.parquet"), curves),
                "probes": _write(store, catalog.bundle_file(bundle_id, "probes.parquet"), probes),
            },
            seconds=12.0 + a,
            compile_seconds=3.0,
            model_steps_per_s=250.0 * (a + 1),
            peak_rss_mb=100.0,
            host="fingerprint",
            device="cpu",
            placement={},
            started=0.0,
            version=TRAIN_VERSION,
        )
        catalog.BUNDLES.write(store, bundle, bundle_id)
        files = {
            "metrics": _write(store, catalog.eval_file(eval_id, "metrics.parquet"), metrics),
            "diagonal": _write(store, catalog.eval_file(eval_id, "diagonal.parquet"), diagonal),
        }
        evaluation = EvalManifest(eval_id, bundle_id, tuple(m["model_id"] for m in ident), files, EVALUATION_VERSION)
        part = collect_part(store, PartJob(evaluation, ident, 0.05))
        for name in catalog.RESULT_TABLES:
            parts.setdefault(name, []).append(catalog.read_table(store, part.files[name]).to_pandas())
        summaries.append(summarise_parts(store, [part], "[0,1]"))
    tables = {name: pd.concat(frames, ignore_index=True) for name, frames in parts.items()}
    return tables, Summary.combine(summaries)


def collect_fingerprint(directory: Path) -> dict[str, Any]:
    """The aggregates value by value; the study tables (their inputs carried over, joined and
    flagged: no arithmetic) by their columns and a hash of their exact contents."""
    tables, summary = collected(directory)
    out = _frames({f"summary.{k}": v for k, v in summary.tables().items()})
    for name, df in tables.items():
        out["exact"][name] = {"columns": list(df.columns), "rows": _sha(df.to_csv(index=False).encode())}
    return out


# ---- report: the aggregates collection made ---------------------------------------------------
REPORT_INFO = {
    "config": "fingerprint",
    "description": "Two architectures, two training ranges, three seeds.",
    "config_resolved": {
        "name": "fingerprint",
        "description": "Two architectures, two training ranges, three seeds.",
        "evaluation": {"fit_nrmse": 0.05, "success": {"rule": "inputs_scaled", "epsilon": 1e-5, "samples": 1000}},
    },
    "n_models": 12,
    "n_trained": 12,
    "n_bundles": 2,
    "steps": 300,
    "seconds": 30.0,
    "reference_range": ["[0,1]", 0.0, 1.0],
    "calibration": {"mlp(hidden=8)": "sized by the cache-size formula"},
}


def report_fingerprint(directory: Path) -> dict[str, Any]:
    from tasks.report.page import build_report

    _, summary = collected(directory)
    files = build_report(summary, REPORT_INFO)
    html = re.sub(r"base64,[A-Za-z0-9+/=]+", "base64,…", files["index.html"].decode())
    rounded = {k: v.round(9).to_csv(index=False) for k, v in summary.tables().items()}
    return {
        "input": _sha(json.dumps(rounded, sort_keys=True).encode()),  # collection's output
        "exact": {
            "files": sorted(files),
            "markdown": files["summary.md"].decode().splitlines(),
            "html": _sha(html.encode()),
        },
        "close": {},
    }


def _json(value: Any, indent: str = "") -> str:
    """A mapping one key a line, a list on one line: a small file whose diffs read."""
    if isinstance(value, dict) and value:
        inner = indent + " "
        items = [f"{inner}{json.dumps(k)}: {_json(v, inner)}" for k, v in sorted(value.items())]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    return json.dumps(value, ensure_ascii=False)


FINGERPRINTS = {
    "data": data_fingerprint,
    "train": train_fingerprint,
    "evaluate": evaluate_fingerprint,
    "collect": collect_fingerprint,
    "report": report_fingerprint,
}


@pytest.mark.parametrize("stage", list(FINGERPRINTS))
def test_a_stage_output_changes_only_with_its_version(stage, tf, tmp_path):
    constant, where, version = VERSIONS[stage]
    now = {"version": version, **FINGERPRINTS[stage](tmp_path)}
    recorded_all = json.loads(FINGERPRINT.read_text()) if FINGERPRINT.exists() else {}
    if os.environ.get("MLAB_RECORD_NUMERICS") == "1":
        recorded_all[stage] = now
        FINGERPRINT.write_text(_json(recorded_all) + "\n")
    how = f"then rerun with MLAB_RECORD_NUMERICS=1 (-k {stage}) to record the new fingerprint"
    recorded = recorded_all.get(stage)
    if recorded is None or recorded["version"] != version:
        pytest.fail(
            f"{constant} is {version}, the {stage} fingerprint is for {recorded and recorded['version']}: {how}"
        )
    if recorded.get("input") != now.get("input"):
        pytest.fail(f"the {stage} stage's input (the stage before it) changed: {how}")
    changed = f"the {stage} stage's output changed while {constant} stayed {version}: bump it in {where}, {how}"
    assert now["exact"] == recorded["exact"], changed
    assert set(now["close"]) == set(recorded["close"]), changed
    rtol, atol = TOLERANCE.get(stage, (0.0, 0.0))
    for key, expected in recorded["close"].items():
        np.testing.assert_allclose(now["close"][key], expected, rtol=rtol, atol=atol, err_msg=f"{key}: {changed}")
