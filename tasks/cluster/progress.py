"""Terminal progress for a stage: done/total, elapsed and ETA; one line per update when
the output is not a terminal (logs, CI), an in-place line when it is."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _fmt_seconds(s: float) -> str:
    s = max(0, round(s))
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class Progress:
    def __init__(self, stage: str, total: int, unit: str, stream: TextIO | None = None, min_interval: float = 2.0):
        self.stage, self.total, self.unit = stage, total, unit
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.start = time.monotonic()
        self.done = 0
        self.skipped = 0
        self._last = 0.0
        self.min_interval = min_interval
        self.shown = False

    def skip(self, n: int) -> None:
        """Work found complete from an earlier run: counted done, excluded from the ETA rate."""
        self.skipped += n
        self.done += n

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self.tty or now - self._last >= self.min_interval or self.done >= self.total:
            self._last = now
            self.show()

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        fresh = self.done - self.skipped
        remaining = self.total - self.done
        eta = "" if not fresh or not remaining else f", ETA {_fmt_seconds(elapsed / fresh * remaining)}"
        reused = f" ({self.skipped} reused)" if self.skipped else ""
        return f"[{self.stage}] {self.done}/{self.total} {self.unit}{reused}, {_fmt_seconds(elapsed)}{eta}"

    def show(self) -> None:
        end = "\r" if self.tty and self.done < self.total else "\n"
        self.stream.write(("\x1b[2K" if self.tty else "") + self.line() + end)
        self.stream.flush()
        self.shown = True

    def finish(self) -> None:
        """End the stage's line; a stage that had nothing to do still says so once."""
        if not self.shown or (self.tty and self.done < self.total):
            self.show()
            if self.tty and self.done < self.total:
                self.stream.write("\n")
