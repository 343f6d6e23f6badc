"""The nightly root's history (a Parquet table partitioned by date) and a lock per date so
two runs for the same night never interleave. Paths and the night record: tasks.store.catalog.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from tasks.core.errors import StorageError, UserError
from tasks.store import catalog
from tasks.store.storage import Store

LOCK_STALE_SECONDS = 12 * 3600  # a lock that does not say how long its run lasts is stale after this


class HistoryError(UserError):
    """The history cannot be read; it is left untouched."""


HISTORY_COLUMNS = ("date", "metric", "arch", "value", "ci_low", "ci_high", "n", "better", "status", "error", "run")


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
    store.write_parquet(catalog.history_partition(date), table)


def failed_night_rows(date: str, error: str, run: str) -> pd.DataFrame:
    """The history partition of a failed night: one marker row, same columns as a good night's."""
    row = dict.fromkeys(HISTORY_COLUMNS, float("nan"))
    row.update(date=date, metric="__night__", arch="all", n=0, better="", status="failed", error=error, run=run)
    return pd.DataFrame([row], columns=list(HISTORY_COLUMNS))


class DateLock:
    """Exclusive lock for one date. Local roots use O_CREAT|O_EXCL (atomic); object stores
    get a write-then-read-back check (best effort: they offer no create-if-absent here).

    A lock whose run is gone is taken over, with one line saying so: on this host, when its
    process no longer exists; anywhere (another host, an object store), when it is older than
    its run can last (`lasts`, from the study's estimate, recorded in the lock)."""

    def __init__(self, store: Store, date: str, lasts: float = LOCK_STALE_SECONDS):
        self.store, self.date, self.lasts = store, date, lasts
        self.rel = catalog.night_lock_file(date)
        self.token = f"{socket.gethostname()}:{os.getpid()}:{time.time():.3f}"

    def __enter__(self) -> DateLock:
        held = self._current()
        if held is not None:
            why = stale(held, time.time(), platform.node())
            if why is None:
                age = time.time() - float(held.get("since", 0))
                limit = float(held.get("lasts", LOCK_STALE_SECONDS))
                raise UserError(
                    f"another nightly run for {self.date} is in progress ({held.get('owner')}, "
                    f"{age / 60:.0f} min ago; its lock counts as stale after {limit / 3600:.1f} h, how long that "
                    f"run can last); lock: {self.store.display(self.rel)}"
                )
            print(f"[nightly] taking over the lock of {self.date}: {why} ({self.store.display(self.rel)})")
            self.store.delete_file(self.rel)
        record = {
            "owner": self.token,
            "since": time.time(),
            "host": platform.node(),
            "pid": os.getpid(),
            "lasts": self.lasts,
        }
        if self.store.is_local:
            path = self.store.full(self.rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                raise UserError(f"another nightly run for {self.date} just started; lock: {path}") from None
            with os.fdopen(fd, "w") as f:
                json.dump(record, f)
        else:
            self.store.write_json(self.rel, record)
            if (self._current() or {}).get("owner") != self.token:
                raise UserError(f"another nightly run for {self.date} took the lock first")
        return self

    def __exit__(self, *exc: object) -> None:
        self.store.delete_file(self.rel)

    def _current(self) -> dict[str, Any] | None:
        try:
            return self.store.read_json(self.rel)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, StorageError):  # being written right now, or unreadable: held
            return {"owner": "unknown (unreadable lock)", "since": time.time()}


def stale(held: dict[str, Any], now: float, host: str) -> str | None:
    """Why a lock's run is gone, or None while it may still be running: its process is gone
    from this host, or the lock is older than the run could last."""
    pid = _pid_of(held)
    if held.get("host") == host and pid is not None and not process_alive(pid):
        return f"its run (PID {pid} on this host) is gone"
    age = now - float(held.get("since", now))
    limit = float(held.get("lasts", LOCK_STALE_SECONDS))
    if age > limit:
        return f"it is {age / 3600:.1f} h old, longer than its run can last ({limit / 3600:.1f} h)"
    return None


def _pid_of(held: dict[str, Any]) -> int | None:
    """The holder's PID: recorded, or (locks of earlier versions) in its owner token host:pid:time."""
    raw = held.get("pid", str(held.get("owner", "")).split(":")[1:2] or [None])
    value = raw[0] if isinstance(raw, list) else raw
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def process_alive(pid: int) -> bool:
    """Whether a process with this PID exists here (a zombie, dead but not yet reaped, does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")
