"""A sweep's variants side by side (pure pandas): per training range, one row per variant
(`mlp lr=0.003 hidden=[80]`, tasks.study.variants) with how many seeds fit, the in-range error,
success on each evaluation range beyond the training range and the error on the widest."""

from __future__ import annotations

from typing import Any

import pandas as pd

from tasks.report.aggregates import Summary

NOTE = (
    "The sweep's variants side by side (each a cartesian-product point of the swept values, trained "
    "like an architecture written out by hand): seeds that fit their training range (k/n), the median "
    "in-range NRMSE, successes/seeds on each evaluation range beyond the training range, and the median "
    "RMSE on the widest (lowest coverage)."
)


def variant_labels(info: dict[str, Any]) -> list[str]:
    """The study's variant labels, in the config's order (none before sweeps existed)."""
    archs = info.get("config_resolved", {}).get("architectures") or []
    return [a["variant"] for a in archs if isinstance(a, dict) and a.get("variant")]


def _variant_of(label: str, variants: list[str]) -> str | None:
    """The variant a series label shows (`… on ÷` where the study has several operations)."""
    return next((v for v in variants if label == v or label.startswith(f"{v} on ")), None)


def variant_tables(summary: Summary, info: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """{training range: its table} for a study with sweeps; {} otherwise."""
    variants = variant_labels(info)
    fit = summary.fit
    if not variants or not len(fit):
        return {}
    fit = fit[[_variant_of(a, variants) is not None for a in fit["arch_label"]]]
    out = {}
    for train, rows in fit.groupby("train_range", sort=False):
        table = pd.DataFrame(
            {
                "variant": rows["arch_label"].to_numpy(),
                "fit": [f"{int(f)}/{int(s)}" for f, s in zip(rows["fitted"], rows["seeds"])],
                "in-range NRMSE": rows["in_range_nrmse_median"].to_numpy(float),
            }
        )
        out[str(train)] = _with_extrapolation(table, summary, str(train))
    return out


def _with_extrapolation(table: pd.DataFrame, summary: Summary, train: str) -> pd.DataFrame:
    """Success (k/n) on each evaluation range beyond `train`, and the median RMSE on the widest."""
    success = summary.success
    beyond = success[(success["train_range"] == train) & (success["eval_range"] != train)]
    for evaluation, rows in beyond.groupby("eval_range", sort=False):
        cells = {a: f"{int(k)}/{int(n)}" for a, k, n in zip(rows["arch_label"], rows["successes"], rows["seeds"])}
        table[f"success {evaluation}"] = table["variant"].map(cells).fillna("")
    errors = summary.by_range
    errors = errors[(errors["train_range"] == train) & (errors["eval_range"] != train)]
    if len(errors):
        widest = errors.loc[errors["coverage"] == errors["coverage"].min(), "eval_range"].iloc[-1]
        at = errors[errors["eval_range"] == widest].set_index("arch_label")["rmse_median"]
        table[f"RMSE {widest}"] = table["variant"].map(at).astype(float)
    return table


def variant_sections(summary: Summary, info: dict[str, Any]) -> list[tuple[str, list[str], pd.DataFrame]]:
    """(title, text, table) of each section of the report comparing the variants."""
    tables = variant_tables(summary, info)
    several = len(tables) > 1
    return [
        (f"Sweep: the variants compared{f' — trained on {train}' if several else ''}", [NOTE], table)
        for train, table in tables.items()
    ]
