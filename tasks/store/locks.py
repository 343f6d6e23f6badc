"""Exclusive locks on a store: one run per nightly date, one run per study folder.

A lock is a small JSON file naming its holder (host, PID, since when, how long its run can
last). Local stores create it with O_CREAT|O_EXCL (atomic); object stores get a
write-then-read-back check (best effort: they offer no create-if-absent here).

A lock whose run is gone is taken over, with one line saying so: on this host, when its
process no longer exists; anywhere (another host, an object store), when it is older than its
run can last (`lasts`) or, for a lock its holder renews (`heartbeat_s`), when it has not been
renewed for STALE_BEATS heartbeats. What the run it held left behind (processes that may still write) is
the taker's to wait for (`Lock.previous`).
"""

from __future__ import annotations

import json
import os
import platform
import socket
import threading
import time
from pathlib import Path
from typing import Any

from tasks.core import logs
from tasks.core.errors import StorageError, UserError
from tasks.store.storage import Store

LOG = logs.get("store")

LOCK_STALE_SECONDS = 12 * 3600  # a lock that does not say how long its run lasts is stale after this
STALE_BEATS = 10  # a renewed lock is stale after this many heartbeats without renewal
_HELD: set[str] = set()  # owner tokens of the locks this process holds now


class Lock:
    """`what` names the run in messages ("another nightly run for 2026-11-29 is in progress"),
    `label` the locked thing in the take-over line, which `tag` prefixes."""

    def __init__(
        self,
        store: Store,
        rel: str,
        what: str,
        label: str,
        tag: str,
        lasts: float = LOCK_STALE_SECONDS,
        heartbeat_s: float | None = None,
    ):
        self.store, self.rel, self.what, self.label, self.tag, self.lasts = store, rel, what, label, tag, lasts
        self.heartbeat_s = heartbeat_s
        self._stop = threading.Event()
        self._beating: threading.Thread | None = None
        self.token = f"{socket.gethostname()}:{os.getpid()}:{time.time():.3f}"
        self.previous: dict[str, Any] | None = None  # the record of a run whose lock was taken over
        self.record: dict[str, Any] = {}

    def __enter__(self) -> Lock:
        held = self._current()
        if held is not None:
            why = stale(held, time.time(), platform.node()) or ended_here(held)
            if why is None:
                age = time.time() - float(held.get("since", 0))
                raise UserError(
                    f"another {self.what} is in progress ({held.get('owner')}, {age / 60:.0f} min ago; its lock "
                    f"counts as stale {stale_after(held)}); lock: {self.store.display(self.rel)} "
                    "(delete it only if that run is gone)"
                )
            LOG.warning(f"[{self.tag}] taking over the lock of {self.label}: {why} ({self.store.display(self.rel)})")
            self.previous = held
            self.store.delete_file(self.rel)
        self.record = {"owner": self.token, "since": time.time(), "host": platform.node(), "pid": os.getpid()}
        self.record["lasts"] = self.lasts
        if self.heartbeat_s:
            self.record.update(heartbeat_s=self.heartbeat_s, beat=time.time())
        if self.store.is_local:
            path = self.store.full(self.rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                raise UserError(f"another {self.what} just started; lock: {path}") from None
            with os.fdopen(fd, "w") as f:
                json.dump(self.record, f)
        else:
            self.store.write_json(self.rel, self.record)
            if (self._current() or {}).get("owner") != self.token:
                raise UserError(f"another {self.what} took the lock first")
        _HELD.add(self.token)
        if self.heartbeat_s:
            self._beating = threading.Thread(target=self._beat, name="lock-heartbeat", daemon=True)
            self._beating.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                self.note(beat=time.time())
            except (OSError, StorageError):  # a store that does not answer now: try again next beat
                pass

    def note(self, **facts: Any) -> None:
        """Add facts to the held lock's record (what a taker would need: e.g. its Ray session)."""
        self.record.update(facts)
        self.store.write_json(self.rel, self.record)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._beating is not None:
            self._beating.join(timeout=10)
        _HELD.discard(self.token)
        if (self._current() or {}).get("owner") == self.token:  # never remove a lock taken over from us
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
    pid = pid_of(held)
    if held.get("host") == host and pid is not None and not process_alive(pid):
        return f"its run (PID {pid} on this host) is gone"
    if held.get("heartbeat_s") and held.get("beat"):
        silent = now - float(held["beat"])
        if silent > STALE_BEATS * float(held["heartbeat_s"]):
            return f"its run has not renewed it for {silent / 60:.0f} min"
        return None  # renewed: alive however long it runs
    age = now - float(held.get("since", now))
    limit = float(held.get("lasts", LOCK_STALE_SECONDS))
    if age > limit:
        return f"it is {age / 3600:.1f} h old, longer than its run can last ({limit / 3600:.1f} h)"
    return None


def ended_here(held: dict[str, Any]) -> str | None:
    """Why a lock held in this very process is stale: its run ended without removing it (the
    store did not answer then) — a run that is still going holds its token in _HELD."""
    if held.get("host") == platform.node() and pid_of(held) == os.getpid() and held.get("owner") not in _HELD:
        return "an earlier run in this process ended without removing it"
    return None


def stale_after(held: dict[str, Any]) -> str:
    """When a held lock counts as stale, in words."""
    if held.get("heartbeat_s") and held.get("beat"):
        return f"once its run stops renewing it for {STALE_BEATS * float(held['heartbeat_s']) / 60:.0f} min"
    return f"after {float(held.get('lasts', LOCK_STALE_SECONDS)) / 3600:.1f} h, how long that run can last"


def pid_of(held: dict[str, Any]) -> int | None:
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
