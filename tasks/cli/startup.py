"""The first thing an entry point does, before its heavy imports (TensorFlow, Ray, pandas):
Ctrl-C or SIGTERM during start-up ends the process at once with exit 130 and one line, not
an import traceback. The guarded command (tasks.cli.guard) takes the signals over from there."""

from __future__ import annotations

import signal
import sys


def _stop(signum, frame):
    print("\ninterrupted while starting: nothing was written", file=sys.stderr)
    raise SystemExit(130)


def stop_quietly_until_started() -> None:
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
