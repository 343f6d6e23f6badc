"""The nightly root's history (a Parquet table partitioned by date) and a lock per date so
two runs for the same night never interleave. Paths and the night record: tasks.store.catalog.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from tasks.core import logs
from tasks.core.errors import UserError
from tasks.store import catalog
from tasks.store.locks import LOCK_STALE_SECONDS, Lock
from tasks.store.storage import Store

LOG = logs.get("nightly")


class HistoryError(UserError):
    """The history cannot be read; it is left untouched."""


# `sample`: a headline's per-seed values (the rank test's input). Nights recorded before it was
# kept lack the column; they read as before and their medians are "not comparable".
HISTORY_COLUMNS = (
    "date",
    "metric",
    "arch",
    "value",
    "ci_low",
    "ci_high",
    "n",
    "better",
    "sample",
    "status",
    "error",
    "run",
)
SAMPLE_TYPE = pa.list_(pa.float64())


def read_history(store: Store) -> pd.DataFrame:
    """All nights' rows; a file that cannot be read stops everything (never overwritten)."""
    frames = []
    for part in store.list_dirs(catalog.HISTORY_DIR):
        if not part.startswith("date="):
            continue
        rel = catalog.history_partition(part.removeprefix("date="))
        try:
            frame = store.read_parquet(rel).to_pandas()
        except (OSError, pa.ArrowInvalid, ValueError) as exc:
            raise HistoryError(
                f"history file {store.display(rel)} is unreadable ({' '.join(str(exc).split())[:200]}); "
                "it was not modified — restore or move it away, then rerun"
            ) from None
        frame["date"] = part.removeprefix("date=")
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=list(HISTORY_COLUMNS))
    return pd.concat(frames, ignore_index=True).sort_values(["date", "metric", "arch"], kind="stable")


def write_history(store: Store, date: str, rows: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(rows.drop(columns=["date"], errors="ignore"), preserve_index=False)
    if "sample" in table.column_names:  # one type in every partition, empty samples (rates) included
        table = table.set_column(table.column_names.index("sample"), "sample", table["sample"].cast(SAMPLE_TYPE))
    store.write_parquet(catalog.history_partition(date), table)


def failed_night_rows(date: str, error: str, run: str) -> pd.DataFrame:
    """The history partition of a failed night: one marker row, same columns as a good night's."""
    row = dict.fromkeys(HISTORY_COLUMNS, float("nan"))
    row.update(date=date, metric="__night__", arch="all", n=0, better="", sample=[], status="failed")
    row.update(error=error, run=run)
    return pd.DataFrame([row], columns=list(HISTORY_COLUMNS))


class DateLock(Lock):
    """Exclusive lock for one night's date (tasks.store.locks: taken over once its run is gone)."""

    def __init__(self, store: Store, date: str, lasts: float = LOCK_STALE_SECONDS):
        super().__init__(store, catalog.night_lock_file(date), f"nightly run for {date}", date, "nightly", lasts)
        self.date = date
