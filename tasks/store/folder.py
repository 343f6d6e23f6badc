"""One study per output folder: a run refuses an OUT that holds a different study (another
name, or a setting that changes results) unless it is told to replace it (--replace), and one
run at a time in it (`run_lock`).

The folder's study is the resolved config its last run stored (OUT/config.yaml); a folder
without one (new, or written before configs were stored) holds no study yet.
"""

from __future__ import annotations

from typing import Any

import yaml

from tasks.core.errors import StorageError, UserError
from tasks.store import catalog
from tasks.store.locks import Lock
from tasks.store.storage import Store
from tasks.study import identity
from tasks.study.config import Config


def held_study(store: Store) -> dict[str, Any] | None:
    """The resolved config of the study the folder holds, or None."""
    try:
        raw = yaml.safe_load(store.read_bytes(catalog.CONFIG_FILE))
    except FileNotFoundError:
        return None
    except (OSError, StorageError, yaml.YAMLError):
        return None  # unreadable: nothing to hold the run against (it is rewritten by this run)
    return raw if isinstance(raw, dict) else None


def claim(store: Store, config: Config, replace: bool = False) -> str | None:
    """Refuse (one line naming both studies) when the folder holds a different study, unless
    `replace`; returns a line to print when a study is replaced, else None."""
    held = held_study(store)
    if held is None:
        return None
    old, new = identity.settings(held), identity.settings(config)
    changed = identity.differences(old, new)
    if not changed:
        return None
    what = f"the study '{held.get('name', '?')}'"
    why = identity.describe(old, new, changed)
    if replace:
        return f"[out] replacing {what} in {store.display()} ({why}) with '{config.name}' (--replace)"
    raise UserError(
        f"{store.display()} holds {what}; this run is the study '{config.name}', which differs ({why}): "
        "choose another --out, or pass --replace to replace it"
    )


HEARTBEAT_S = 60.0  # how often a run renews its folder's lock (stale after locks.STALE_BEATS of them)


def run_lock(store: Store) -> Lock:
    """The folder's lock for the length of a run: a second run into it refuses in one line while
    the first is alive; a run that is gone (its PID on this host, or no renewal) is taken over."""
    where = store.display()
    return Lock(store, catalog.RUN_LOCK, f"run of a study in {where}", where, "out", heartbeat_s=HEARTBEAT_S)
