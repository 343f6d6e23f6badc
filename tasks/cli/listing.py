"""How `mlab ls` prints a study's models (tasks.report.listing.model_listing): a readable table,
or every column as CSV or JSON for scripts."""

from __future__ import annotations

import json

import pandas as pd

# The table's columns: (header, listing column). A new per-model column (the extrapolation
# horizon, say) is one entry here, before the id, once model_listing computes it.
COLUMNS = [
    ("architecture", "arch_label"),
    ("training range", "train_range"),
    ("seed", "seed"),
    ("fit", "fit_text"),
    ("success", "success"),
    ("id", "model_id"),
]
RIGHT_ALIGNED = {"seed", "success"}


def render(listing: pd.DataFrame, fmt: str) -> str:
    if fmt == "csv":
        return listing.to_csv(index=False)
    if fmt == "json":
        return (
            json.dumps(json.loads(listing.to_json(orient="records", double_precision=15)), indent=1, ensure_ascii=False)
            + "\n"
        )
    return table(listing)


def fit_text(listing: pd.DataFrame) -> pd.Series:
    """yes / no / diverged: whether each model fits its training range (the report's fit rule)."""
    text = listing["fit"].map({True: "yes", False: "no"})
    return text.where(~listing["diverged"], "diverged")


def table(listing: pd.DataFrame) -> str:
    shown = listing.assign(fit_text=fit_text(listing))
    cells = [[str(v) for v in shown[column]] for _, column in COLUMNS]
    widths = [max([len(header), *map(len, col)]) for (header, _), col in zip(COLUMNS, cells)]

    def line(values: list[str]) -> str:
        padded = [
            v.rjust(w) if column in RIGHT_ALIGNED else v.ljust(w) for v, w, (_, column) in zip(values, widths, COLUMNS)
        ]
        return "  ".join(padded).rstrip()

    rows = [line([h for h, _ in COLUMNS])] + [line(list(values)) for values in zip(*cells)]
    fitted, total = int(listing["fit"].sum()), len(listing)
    footer = f"{total} models, {fitted} fit their training range; success: extrapolation ranges passed (k/n)"
    return "\n".join([*rows, footer]) + "\n"
