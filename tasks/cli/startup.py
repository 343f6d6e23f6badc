"""The first thing an entry point does, before its heavy imports (TensorFlow, Ray, pandas):
Ctrl-C or SIGTERM during start-up ends the process at once with exit 130 and one line, not
an import traceback. The guarded command (tasks.cli.guard) takes the signals over from there."""

from __future__ import annotations

import os
import signal
import sys
import threading


def _stop(signum, frame):
    # Ends the process here, not by raising SystemExit: an exception raised in a weakref
    # callback (importlib's module locks) or an at-fork hook is only printed, and start-up
    # would go on. Nothing is open yet that needs closing.
    print("\ninterrupted while starting: nothing was written", file=sys.stderr, flush=True)
    os._exit(130)


def stop_quietly_until_started() -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # a command run from another thread (tests): signals are the main thread's business
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
