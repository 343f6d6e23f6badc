"""Collection as map/reduce, both run as Ray tasks so the driver only ever holds aggregates.

map     `collect_part`: one evaluation (and its bundle's curves and probes) → the study's rows
        for its models, with their identity columns, fit flags and extrapolation horizons
        (columns horizon_* of the models table), written as
        results/<table>/part-<eval id>.parquet (metrics, models, curves, probes, diagonal).
reduce  `summarise_parts`: the parts of one architecture → its aggregates (tasks.report.aggregates).

Parts are content-addressed by evaluation, so `pandas.read_parquet("OUT/results/metrics")`
reads the study's table, and a rerun rewrites only what changed.

The study's results id (tasks.pipeline.results_id) hashes the evaluations collected, the
settings of collection and COLLECT_VERSION, the collection stage's version. Bump it with any
change to what collection writes for the same evaluations:

    the columns or rows of a study table (part_tables), fit flags and summary tables
    (tasks.report.summaries), aggregates and their intervals (tasks.report.aggregates,
    tasks.evaluation.intervals), the nightly's quality headlines computed in the reduce.

A bump collects again and redraws the report; it trains and evaluates nothing.
tests/test_numerics.py fails when collection's output changes while this version did not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tasks.report.aggregates import Summary, summarise
from tasks.report.summaries import fit_flags
from tasks.store import catalog
from tasks.store.catalog import BundleManifest, EvalManifest
from tasks.store.storage import FileInfo, Store

# 1: the first release (a results id with it since its first version).
# 2: the papers' own summary (stable-nalu's _compute_summary.r ported: beta on the errors, the
# gamma fit and profile as bbmle gives them, Wilson as R's binom computes it).
# 3: rows name their operation and unit (`operation`, `unit_label`), and the success table carries them.
# 4: each headline keeps its per-seed values (`sample`): the rank test behind compare's and the
# nightly's verdicts needs them, not only the median and its interval (tasks.report.judgement).
# The speeds table's `bundle_seconds` (added under 3 without a bump) is recorded with it.
# 5: the models table carries each model's extrapolation horizon (horizon_*); the aggregates a
# horizons table and a horizon headline per architecture; summary tables in numeric range order.
COLLECT_VERSION = 5

IDENTITY = ["model_id", "arch", "arch_label", "seed", "train_range"]  # carried by every table


@dataclass(frozen=True)
class PartJob:
    """What one evaluation contributes: its models' identity rows (from the plan)."""

    evaluation: EvalManifest
    rows: tuple[dict[str, Any], ...]
    fit_nrmse: float
    tensorboard: bool = False  # also write its models as TensorBoard runs (tasks.jobs.tensorboard)


@dataclass(frozen=True)
class Part:
    eval_id: str
    arch_label: str  # its architecture's own label (unit_label): the reduce it goes to
    files: dict[str, FileInfo]  # table → the part file


# What a part is made of: the evaluation's tables (horizons only where the study searches
# them) and the bundle's curves and probes.
INPUTS = ("metrics", "diagonal", "horizons", "curves", "probes")


def collect_part(store: Store, job: PartJob) -> Part:
    return write_part(store, job.evaluation, part_tables(store, job), job.rows[0]["unit_label"], job.tensorboard)


def write_part(
    store: Store, evaluation: EvalManifest, tables: dict[str, pd.DataFrame], unit_label: str, tensorboard: bool
) -> Part:
    """One evaluation's rows of every study table, written as its parts (and its TensorBoard runs)."""
    eval_id = evaluation.eval_id
    files = {
        name: store.write_parquet(catalog.results_part(name, eval_id), pa.Table.from_pandas(df, preserve_index=False))
        for name, df in tables.items()
    }
    if tensorboard:
        from tasks.jobs.tensorboard import write_events

        write_events(store, tables, catalog.require_bundle(store, evaluation.bundle_id).training)
    return Part(eval_id, str(unit_label), files)


def part_tables(store: Store, job: PartJob) -> dict[str, pd.DataFrame]:
    """The study's rows for one evaluation's models (pure but for reading its inputs)."""
    bundle = catalog.require_bundle(store, job.evaluation.bundle_id)
    files = {**{k: bundle.files[k] for k in ("curves", "probes")}, **job.evaluation.files}
    inputs = {name: catalog.read_table(store, files[name]) for name in INPUTS if name in files}
    return tables_of(bundle, pd.DataFrame(list(job.rows)), inputs, job.fit_nrmse)


def tables_of(
    bundle: BundleManifest, ident: pd.DataFrame, inputs: dict[str, pa.Table], fit_nrmse: float
) -> dict[str, pd.DataFrame]:
    """The study's rows for the models of `ident` (their identity columns), from their bundle's
    manifest and the evaluation's and bundle's tables (`inputs`: metrics, diagonal, curves,
    probes and, where the study searches them, horizons; they may hold more models of the bundle)."""
    wanted = set(ident["model_id"])

    def read(name: str) -> pd.DataFrame:
        frame = inputs[name].to_pandas()
        return frame if len(wanted) == len(bundle.members) else frame[frame["model_id"].isin(wanted)]

    members = {m.model_id: m for m in bundle.members}
    chosen = [members[i] for i in ident["model_id"]]
    models = ident.assign(
        bundle_id=bundle.bundle_id,
        bundle_size=len(bundle.members),
        steps=int(bundle.training.get("steps", 0)),
        diverged=[m.diverged_step >= 0 for m in chosen],
        diverged_step=[m.diverged_step for m in chosen],
        selected_step=[m.selected_step for m in chosen],
        device=bundle.device,
        bundle_seconds=bundle.seconds,
        bundle_model_steps_per_s=bundle.model_steps_per_s,
    )
    per_model = models.drop(columns=["bundle_seconds", "bundle_model_steps_per_s", "device", "bundle_size"])
    metrics = per_model.merge(read("metrics"), on="model_id", how="inner")
    fits = fit_flags(metrics, fit_nrmse)
    models = models.merge(fits, on="model_id", how="left").fillna({"fit": False})
    if inputs.get("horizons") is not None:  # one row per model (tasks.evaluation.horizon)
        models = models.merge(read("horizons"), on="model_id", how="left")
    metrics = metrics.merge(fits[["model_id", "fit"]], on="model_id", how="left").fillna({"fit": False})
    short = ident[IDENTITY]
    curves = short.merge(read("curves"), on="model_id")
    thresholds = metrics.loc[metrics["eval_kind"] == "square", ["model_id", "eval_range", "threshold"]]
    probes = short.merge(read("probes"), on="model_id").merge(thresholds, on=["model_id", "eval_range"], how="left")
    diagonal = short.merge(read("diagonal"), on="model_id")
    return {"metrics": metrics, "models": models, "curves": curves, "probes": probes, "diagonal": diagonal}


def summarise_parts(store: Store, parts: Sequence[Part], reference_range: str | None) -> Summary:
    """The aggregates of one architecture, from its parts (a reduce task). Of the diagonal,
    only the reference range's rows are summarised (the article's figures): the others are
    dropped as each part is read, so a reduce of 10⁵ models holds 1/ranges of its diagonal."""

    def read(name: str, part: Part) -> pd.DataFrame:
        table = catalog.read_table(store, part.files[name])
        if name == "diagonal":
            keep = pc.equal(table["train_range"], reference_range or "")
            table = table.filter(keep)
        return table.to_pandas()

    tables = {name: pd.concat([read(name, p) for p in parts], ignore_index=True) for name in catalog.RESULT_TABLES}
    return summarise(tables, reference_range)
