"""Collect per-bundle and per-evaluation outputs into the study's tidy result tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import pyarrow as pa

from tasks.report.summaries import fit_flags
from tasks.store import catalog
from tasks.store.catalog import BundleManifest, EvalManifest, ResultsManifest
from tasks.store.storage import Store
from tasks.study.plan import Plan


def models_table(plan: Plan, bundles: dict[str, BundleManifest]) -> pd.DataFrame:
    rows = []
    for m in plan.models:
        manifest = bundles[m.model_id]
        member = manifest.member(m.model_id)
        rows.append(
            {
                **m.row(),
                "bundle_id": manifest.bundle_id,
                "bundle_size": len(manifest.members),
                "steps": m.arch.training_or(plan.config.training).steps,
                "diverged": member.diverged_step >= 0,
                "diverged_step": member.diverged_step,
                "selected_step": member.selected_step,
                "device": manifest.device,
                "bundle_seconds": manifest.seconds,
                "bundle_model_steps_per_s": manifest.model_steps_per_s,
            }
        )
    return pd.DataFrame(rows)


def collect(
    store: Store, plan: Plan, bundles: dict[str, BundleManifest], evals: Sequence[EvalManifest]
) -> dict[str, pd.DataFrame]:
    """The result tables (models, metrics, probes, curves, diagonal), restricted to the plan's models."""
    models = models_table(plan, bundles)
    wanted = set(models["model_id"])

    def gather(manifests: Sequence[BundleManifest | EvalManifest], name: str) -> pd.DataFrame:
        frames = []
        for m in manifests:
            frame = catalog.read_table(store, m.files[name]).to_pandas()
            frames.append(frame[frame["model_id"].isin(wanted)])
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"model_id": []})

    unique_bundles = list({m.bundle_id: m for m in bundles.values()}.values())
    ident = models.drop(columns=["bundle_seconds", "bundle_model_steps_per_s", "device", "bundle_size"])
    metrics = gather(evals, "metrics").drop_duplicates(["model_id", "eval_kind", "eval_range"])
    metrics = ident.merge(metrics, on="model_id", how="inner")
    fits = fit_flags(metrics, plan.config.evaluation.fit_nrmse)
    models = models.merge(fits, on="model_id", how="left").fillna({"fit": False})
    metrics = metrics.merge(fits[["model_id", "fit"]], on="model_id", how="left").fillna({"fit": False})
    curves = gather(unique_bundles, "curves").drop_duplicates(["model_id", "step"])
    with_probes = [m for m in unique_bundles if "probes" in m.files]
    probes = gather(with_probes, "probes")
    if len(probes):
        probes = probes.drop_duplicates(["model_id", "step", "eval_range"])
        probes = ident[["model_id", "arch", "arch_label", "seed", "train_range"]].merge(probes, on="model_id")
        # each range's success threshold is the evaluation's (this config's rule and ε)
        thresholds = metrics.loc[metrics["eval_kind"] == "square", ["model_id", "eval_range", "threshold"]]
        probes = probes.merge(thresholds, on=["model_id", "eval_range"], how="left")
    else:
        probes = pd.DataFrame(
            columns=[
                "model_id",
                "arch",
                "arch_label",
                "seed",
                "train_range",
                "step",
                "eval_range",
                "mse",
                "threshold",
            ]
        )
    curves = ident[["model_id", "arch", "arch_label", "seed", "train_range"]].merge(curves, on="model_id")
    diagonal = gather(evals, "diagonal").drop_duplicates(["model_id", "x"])
    diagonal = ident[["model_id", "arch", "arch_label", "seed", "train_range"]].merge(diagonal, on="model_id")
    sort = ["arch_label", "train_lo", "train_hi", "seed"]
    return {
        "models": models.sort_values(sort, kind="stable").reset_index(drop=True),
        "metrics": metrics.sort_values([*sort, "eval_kind", "eval_lo", "eval_hi"], kind="stable").reset_index(
            drop=True
        ),
        "probes": probes.sort_values(
            ["arch_label", "train_range", "seed", "eval_range", "step"], kind="stable"
        ).reset_index(drop=True),
        "curves": curves.sort_values(["arch_label", "train_range", "seed", "step"], kind="stable").reset_index(
            drop=True
        ),
        "diagonal": diagonal.sort_values(["arch_label", "train_range", "seed", "x"], kind="stable").reset_index(
            drop=True
        ),
    }


def write_results(store: Store, tables: dict[str, pd.DataFrame], run_info: dict[str, Any]) -> ResultsManifest:
    files = {
        name: store.write_parquet(catalog.results_file(name), pa.Table.from_pandas(df, preserve_index=False))
        for name, df in tables.items()
    }
    return catalog.RESULTS.write(store, ResultsManifest(files, run_info))
