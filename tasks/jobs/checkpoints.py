"""Periodic checkpoints of a training bundle in the output store, so a working period that
ends (the driver or worker killed, the machine gone) loses minutes, not a bundle.

Every `every_s` seconds of wall time, between compiled chunks, the trainer's loop state
(tasks.model.loop_state) is written as one npz under the bundle's checkpoint folder
(tasks.store.catalog), then a small record naming it with its size, SHA-256, the training
version, the bundle's content key and its layout (members and compiled-step size: a later
run keeps the bundle as it was planned, whatever sizes it would choose now —
tasks.study.bundles.resumed_bundles); the previous state file is deleted after. Each write
is atomic (temporary name, then rename), so a kill at any moment leaves the previous
checkpoint or the new one. A SIGTERM while training asks for a checkpoint at the next chunk
boundary, then the signal's former handler runs (a Ray worker then exits as it would have).

The next run of the same bundle resumes from the record's state; a record of another training
version or another bundle content, or a state whose checksum fails, is never used (the bundle
starts over, and says why). Resumed results are bit-identical to an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from tasks.core.errors import CorruptArtifactError
from tasks.core.ids import content_id
from tasks.model.settings import TRAIN_VERSION
from tasks.store import catalog
from tasks.store.storage import FileInfo, Store, file_info
from tasks.study.bundles import Bundle


def bundle_key(bundle: Bundle, probe_rows: int) -> str:
    """What a saved state belongs to: the bundle's models and training settings, the probe
    sets whose curves it carries (their number sizes the state) and its compiled steps' size
    (tasks.model.chunked: a state of several steps holds the finished ones)."""
    probes = sorted({e.dataset_id for m in bundle.models for e in m.evals}) if probe_rows > 0 else []
    return content_id(
        "ckpt",
        {
            "bundle": bundle.bundle_id,
            "models": [m.model_id for m in bundle.models],
            "training": bundle.training.identity(),
            "first_window": bundle.first_window,
            "probe_rows": probe_rows,
            "probes": probes,
            **({"step_size": bundle.step_size} if bundle.step_size else {}),  # what a saved state holds
        },
    )


def bundle_layout(bundle: Bundle) -> dict[str, Any]:
    """What a checkpoint record keeps of its bundle's planning (catalog.Unfinished)."""
    return {"members": [m.model_id for m in bundle.models], "step_size": bundle.step_size}


class StoreCheckpoints:
    """The checkpoints of one bundle (tasks.model.loop_state.Checkpoints)."""

    def __init__(
        self,
        store: Store,
        bundle_id: str,
        key: str,
        every_s: float,
        clock: Callable[[], float] = time.monotonic,
        say: Callable[[str], None] = print,
        layout: dict[str, Any] | None = None,
    ):
        self.store, self.bundle_id, self.key, self.every_s = store, bundle_id, key, every_s
        self.layout = layout or {}
        self.clock, self.say = clock, say
        self.last = clock()
        self.saved: FileInfo | None = None
        self.terminate_requested = False

    def restore(self) -> dict[str, np.ndarray] | None:
        record = self._record()
        if record is None:
            return None
        why = self._unusable(record)
        if why is None:
            info = file_info(record["file"])
            try:
                arrays = self.store.read_npz(info.path, expected=info)
            except CorruptArtifactError as exc:
                why = str(exc)
            else:
                self.saved = info
                self.say(f"[checkpoint] {self.bundle_id}: resuming at step {int(arrays['step']):,}")
                return arrays
        self.say(f"[checkpoint] {self.bundle_id}: not resuming ({why}); training from the start")
        return None

    def _record(self) -> dict[str, Any] | None:
        return catalog.read_checkpoint_record(self.store, self.bundle_id)  # {}: unreadable, reported as unusable

    def _unusable(self, record: dict[str, Any]) -> str | None:
        if record.get("train_version") != TRAIN_VERSION:
            return f"saved by training version {record.get('train_version')}, this lab's is {TRAIN_VERSION}"
        if record.get("key") != self.key:
            return "saved for other bundle content"
        if not isinstance(record.get("file"), dict):
            return "its record is unreadable"
        return None

    def due(self) -> bool:
        return self.terminate_requested or (self.every_s > 0 and self.clock() - self.last >= self.every_s)

    def save(self, arrays: dict[str, np.ndarray]) -> None:
        step = int(arrays["step"])
        info = self.store.write_npz(catalog.checkpoint_state_file(self.bundle_id, step), arrays)
        record = {"train_version": TRAIN_VERSION, "key": self.key, "step": step, "file": vars(info), **self.layout}
        record["on_stop"] = self.terminate_requested  # saved because the worker was being stopped
        self.store.write_json(catalog.checkpoint_record_file(self.bundle_id), record)
        if self.saved is not None and self.saved.path != info.path:
            self.store.delete_file(self.saved.path)
        self.saved, self.last = info, self.clock()
        if self.terminate_requested:
            self._terminate()

    def discard(self) -> None:
        """The bundle is complete: its checkpoints are of no further use."""
        self.store.delete_dir(catalog.checkpoint_dir(self.bundle_id))

    @contextlib.contextmanager
    def on_sigterm(self) -> Iterator[None]:
        """While training: a SIGTERM makes the next chunk boundary save, then the handler that
        was in place runs; one that came during the last chunk (no boundary left to save at)
        runs that handler when training ends, so a stopped worker never goes on to evaluate
        and write its bundle. Only the main thread may set handlers; elsewhere nothing changes."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        self._previous = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, self._requested)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, self._previous)
            if self.terminate_requested:
                self.terminate_requested = False
                signal.raise_signal(signal.SIGTERM)

    def _requested(self, signum: int, frame: Any) -> None:
        self.terminate_requested = True

    def _terminate(self) -> None:
        """Hand the SIGTERM to the handler that was in place before training (after a save)."""
        self.terminate_requested = False
        signal.signal(signal.SIGTERM, self._previous)
        signal.raise_signal(signal.SIGTERM)
