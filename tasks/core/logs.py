"""The lab's messages: `logging`, with a timestamp and a level, in the order they happened.

Every message of the pipeline, the orchestration, the nightly and the commands goes to the logger
`mlab` (a child per module: `mlab.pipeline`, …) and from there to stderr, one line at a time. In a
cron log or CI, where stdout and stderr are one file, the lines keep their order (the prints they
replace went to stdout, which Python buffers when it is not a terminal, and so came after
stderr's progress lines). Elsewhere than a terminal, plain lines:

    2026-12-01T10:22:03.123+0000 INFO [ray] local Ray of this study at 127.0.0.1:6379 (…)

On a terminal the same messages go through rich, above the live progress bars of
tasks.cluster.progress (they share one console). What a command answers stays on stdout (the
`[done]` line, `mlab ls`'s table, the dry run's plan), and a user error is one `error: …` line on
stderr (tasks.cli.guard). The commands call `configure`; a program using the lab's modules may
call it too (or configure `logging` its own way: the records also reach the root logger).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any, TextIO

LOG = logging.getLogger("mlab")
LEVELS = ("debug", "info", "warning", "error")
_consoles: dict[int, Any] = {}  # one rich console per terminal stream: log lines and bars share it


def get(name: str) -> logging.Logger:
    """The logger of one part of the lab (`mlab.<name>`)."""
    return LOG.getChild(name)


def underlying(stream: TextIO) -> TextIO:
    """The stream itself, not rich's stand-in for it while bars are live (rich redirects
    sys.stdout and sys.stderr then, so that a stray print lands above the bars)."""
    return getattr(stream, "rich_proxied_file", stream)


def is_terminal(stream: TextIO) -> bool:
    """Live bars and rich lines only where a person watches a terminal that can redraw."""
    try:
        return underlying(stream).isatty() and os.environ.get("TERM", "") not in ("dumb", "unknown")
    except (AttributeError, ValueError):  # a closed or unusual stream
        return False


def console_for(stream: TextIO):
    """The rich console drawing on `stream` (made once per stream)."""
    from rich.console import Console

    stream = underlying(stream)
    console = _consoles.get(id(stream))
    if console is None or console.file is not stream:
        console = _consoles[id(stream)] = Console(file=stream, highlight=False)
    return console


class PlainFormatter(logging.Formatter):
    """`2026-12-01T10:22:03.123+0000 INFO message`: sortable, with the machine's UTC offset."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        t = time.localtime(record.created)
        return f"{time.strftime('%Y-%m-%dT%H:%M:%S', t)}.{int(record.msecs):03d}{time.strftime('%z', t)}"


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record comes (a redirection or a test's capture
    made after `configure` is honoured)."""

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def _handler(stream: TextIO | None) -> logging.Handler:
    if is_terminal(stream or sys.stderr):
        from rich.highlighter import NullHighlighter
        from rich.logging import RichHandler

        console = console_for(stream or sys.stderr)
        return RichHandler(console=console, show_path=False, log_time_format="%H:%M:%S", highlighter=NullHighlighter())
    handler = logging.StreamHandler(stream) if stream is not None else _CurrentStderr()
    handler.setFormatter(PlainFormatter())
    return handler


def configure(level: int | str = logging.INFO, stream: TextIO | None = None) -> None:
    """Show the lab's messages at `level` (a number, or one of LEVELS) and above on `stream`
    (default: stderr). Calling it again replaces what an earlier call set up."""
    if isinstance(level, str):
        level = getattr(logging, level.upper())
    for old in [h for h in LOG.handlers if getattr(h, "mlab", False)]:
        LOG.removeHandler(old)
    handler = _handler(stream)
    handler.mlab = True  # type: ignore[attr-defined]
    LOG.addHandler(handler)
    LOG.setLevel(level)


def shows(level: int = logging.INFO) -> bool:
    """Whether a message at `level` is shown (progress is drawn only when INFO is)."""
    return LOG.isEnabledFor(level)
