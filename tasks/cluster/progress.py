"""Progress of a run's stages: done/total, rate, elapsed and ETA.

On a terminal, rich draws a live bar per stage (the stages of a run overlap: training, evaluation
and collection stream), with the log's lines above them (tasks.core.logs: one console). Elsewhere
(files, CI) a plain log line per update, at most every `min_interval` seconds, in order with the
rest of the log. Nothing is drawn when the log hides INFO (`--quiet`).
"""

from __future__ import annotations

import sys
import time
from typing import ClassVar, TextIO

from tasks.core import logs

BAR_WIDTH = 24
LOG = logs.get("progress")


def _fmt_seconds(s: float) -> str:
    s = max(0, round(s))
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class _Board:
    """The live bars on one console: started with its first stage, stopped when every stage it
    shows has finished (their last state stays on screen); a later stage starts a new board."""

    def __init__(self, stream: TextIO):
        from rich.progress import BarColumn, TextColumn
        from rich.progress import Progress as Bars

        self.bars = Bars(
            TextColumn("[{task.description}]", markup=False),
            BarColumn(bar_width=BAR_WIDTH),
            TextColumn("{task.fields[figures]}", markup=False),
            console=logs.console_for(stream),
            refresh_per_second=4,
        )
        self.unfinished = 0

    def add(self, p: Progress) -> int:
        if not self.unfinished and not self.bars.live.is_started:
            self.bars.start()
        self.unfinished += 1
        return self.bars.add_task(p.stage, total=p.total or 1, figures=p.figures())

    def draw(self, p: Progress) -> None:
        self.bars.update(p.task, completed=p.done if p.total else 1, figures=p.figures(rate=True))

    def finish(self, p: Progress) -> bool:
        """Draw `p` complete; True when it was the board's last unfinished stage (it stopped)."""
        self.draw(p)
        self.unfinished -= 1
        if self.unfinished:
            return False
        self.bars.stop()
        return True


class Progress:
    _boards: ClassVar[dict[int, _Board]] = {}

    def __init__(self, stage: str, total: int, unit: str, stream: TextIO | None = None, min_interval: float = 2.0):
        self.stage, self.total, self.unit = stage, total, unit
        self.stream = logs.underlying(stream or sys.stderr)
        self.start = time.monotonic()
        self.done = 0
        self.skipped = 0
        self._last = 0.0
        self.min_interval = min_interval
        self.shown = False
        self.finished = False
        self.board: _Board | None = None
        if logs.shows() and logs.is_terminal(self.stream):
            self.board = Progress._boards.get(id(self.stream))
            if self.board is None:
                self.board = Progress._boards[id(self.stream)] = _Board(self.stream)
            self.task = self.board.add(self)

    def skip(self, n: int) -> None:
        """Work found complete from an earlier run: counted done, excluded from the ETA rate."""
        self.skipped += n
        self.done += n

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self.board or now - self._last >= self.min_interval or self.done >= self.total:
            self._last = now
            self.show()

    def figures(self, rate: bool = False) -> str:
        """`3/4 bundles (1 reused), 0.5/s, 12s, ETA 4s`."""
        elapsed = time.monotonic() - self.start
        fresh = self.done - self.skipped
        remaining = self.total - self.done
        eta = "" if not fresh or not remaining else f", ETA {_fmt_seconds(elapsed / fresh * remaining)}"
        reused = f" ({self.skipped} reused)" if self.skipped else ""
        speed = f", {fresh / elapsed:.2g}/s" if rate and fresh and elapsed > 0 else ""
        return f"{self.done}/{self.total} {self.unit}{reused}{speed}, {_fmt_seconds(elapsed)}{eta}"

    def line(self) -> str:
        return f"[{self.stage}] {self.figures()}"

    def show(self) -> None:
        self.shown = True
        if self.board:
            self.board.draw(self)
        else:
            LOG.info(self.line())

    def finish(self) -> None:
        """End the stage: its last line stays; a stage that had nothing to do still says so once."""
        if self.finished:
            return
        self.finished = True
        if self.board:
            if self.board.finish(self):
                Progress._boards.pop(id(self.stream), None)
        elif not self.shown:
            self.show()


def stop_all() -> None:
    """End every live board (a run that stopped early: no bar left drawing, the cursor back)."""
    for board in list(Progress._boards.values()):
        board.bars.stop()
    Progress._boards.clear()
