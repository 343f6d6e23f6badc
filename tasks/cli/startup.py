"""The first thing an entry point does, before its heavy imports (TensorFlow, Ray, pandas):
Ctrl-C or SIGTERM during start-up ends the process at once with exit 130 and one line, not
an import traceback. The guarded command (tasks.cli.guard) takes the signals over from there."""

from __future__ import annotations

import signal
import sys
import threading


def _stop(signum, frame):
    print("\ninterrupted while starting: nothing was written", file=sys.stderr)
    raise SystemExit(130)


def stop_quietly_until_started() -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # a command run from another thread (tests): signals are the main thread's business
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
