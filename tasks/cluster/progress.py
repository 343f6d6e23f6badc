"""Progress of a run's stages: done/total, rate, elapsed and ETA.

On a terminal, every unfinished stage has a live bar of its own (the stages of a run overlap:
training, evaluation and collection stream); a finished stage's last line stays above them.
Elsewhere (logs, CI) one plain line per update, at most every `min_interval` seconds.
"""

from __future__ import annotations

import sys
import time
from typing import ClassVar, TextIO

BAR_WIDTH = 24


def _fmt_seconds(s: float) -> str:
    s = max(0, round(s))
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class _Board:
    """The live lines of a terminal: one per unfinished stage, redrawn in place."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.lines: list[Progress] = []
        self.drawn = 0

    def draw(self) -> None:
        out = f"\x1b[{self.drawn}F" if self.drawn else ""  # back to the first live line
        out += "".join(f"\x1b[2K{p.line(bar=True)}\n" for p in self.lines)
        self.drawn = len(self.lines)
        self.stream.write(out)
        self.stream.flush()

    def retire(self, p: Progress) -> None:
        """Draw `p` complete as the top live line, then leave it there for good."""
        self.lines.remove(p)
        self.lines.insert(0, p)
        self.draw()
        self.lines.pop(0)
        self.drawn -= 1


class Progress:
    _boards: ClassVar[dict[int, _Board]] = {}

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
        self.finished = False
        if self.tty:
            self.board = Progress._boards.setdefault(id(self.stream), _Board(self.stream))
            self.board.lines.append(self)

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

    def line(self, bar: bool = False) -> str:
        elapsed = time.monotonic() - self.start
        fresh = self.done - self.skipped
        remaining = self.total - self.done
        rate = fresh / elapsed if elapsed > 0 else 0.0
        eta = "" if not fresh or not remaining else f", ETA {_fmt_seconds(elapsed / fresh * remaining)}"
        reused = f" ({self.skipped} reused)" if self.skipped else ""
        speed = f", {rate:.2g}/s" if bar and fresh else ""
        drawn = ""
        if bar:
            filled = round(BAR_WIDTH * self.done / self.total) if self.total else BAR_WIDTH
            drawn = "█" * filled + "░" * (BAR_WIDTH - filled) + " "
        return (
            f"[{self.stage}] {drawn}{self.done}/{self.total} {self.unit}{reused}{speed}, {_fmt_seconds(elapsed)}{eta}"
        )

    def show(self) -> None:
        self.shown = True
        if self.tty:
            self.board.draw()
        else:
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def finish(self) -> None:
        """End the stage: its last line stays; a stage that had nothing to do still says so once."""
        if self.finished:
            return
        self.finished = True
        if self.tty:
            self.board.retire(self)
        elif not self.shown:
            self.show()
