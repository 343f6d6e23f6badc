"""Opening an output location (OUT) safely.

OUT holds a `lab.json` marker. A fresh or empty location becomes an output directory; an
existing location with other contents and no marker is refused, so a typo in --out never
mixes our files into (or later deletes from) an unrelated directory.
"""

from __future__ import annotations

import time

from tasks.core.errors import StorageError
from tasks.store.storage import Store

MARKER = "lab.json"
MARKER_KIND = "multiplication-lab output"


def open_output(uri: str, create: bool = True) -> Store:
    store = Store(uri)
    store.check_reachable()
    if store.is_file(""):
        raise StorageError(f"output location {store.display()} is a file, not a directory; choose another --out")
    if store.exists(MARKER):
        try:
            ok = store.read_json(MARKER).get("kind") == MARKER_KIND
        except (ValueError, OSError, AttributeError):
            ok = False
        if not ok:
            raise StorageError(f"{store.display(MARKER)} is not a lab marker; refusing to use {store.display()}")
        return store
    if store.exists("") and (store.list_files("") or store.list_dirs("")):
        raise StorageError(
            f"output location {store.display()} already exists and is not a lab output directory "
            f"(no {MARKER}); choose another --out, or empty it"
        )
    if create:
        try:
            store.write_json(MARKER, {"kind": MARKER_KIND, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        except StorageError as exc:
            raise StorageError(f"output location {store.display()} is not writable: {exc}") from None
    return store
