"""How every entry point ends: user errors as one line (exit 2), Ctrl-C/SIGTERM as a clean
stop (exit 130), Ray shut down either way. Gates (compare, nightly), whose exit 1 means "a
regression", also end an unexpected failure as one line with exit 2, never a traceback's 1."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

from tasks.core.errors import UserError


def guarded(main: Callable[..., int]) -> Callable[..., int]:
    """User errors print one line and exit 2; Ctrl-C/SIGTERM shut Ray down and exit 130."""

    @functools.wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        from tasks.cluster.progress import stop_all as stop_progress
        from tasks.cluster.runtime import interrupt_handled, shutdown, signals_handled

        with signals_handled():  # the caller's handlers come back after Ray is shut down
            try:
                try:
                    return main(*args, **kwargs)
                finally:
                    stop_progress()  # live bars end before any last line (and give the cursor back)
            except UserError as exc:  # raised here or inside a Ray task (then `cause` is the original, sans traceback)
                print(f"error: {getattr(exc, 'cause', None) or exc}", file=sys.stderr)
                return 2
            except KeyboardInterrupt:
                interrupt_handled()
                shutdown(interrupted=True)  # its training saves its state first; the line below comes last
                print("\ninterrupted: finished work is kept; rerun the same command to resume", file=sys.stderr)
                return 130
            finally:
                shutdown()

    return wrapper


def gate(main: Callable[..., int]) -> Callable[..., int]:
    """`guarded`, and any other failure is one line and exit 2 (with MLAB_TRACEBACK=1 the
    traceback too): a scheduler or CI reading exit 1 as a regression never mistakes a crash
    for one."""

    @functools.wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        try:
            return main(*args, **kwargs)
        except (UserError, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("MLAB_TRACEBACK"):
                import traceback

                traceback.print_exc()
            detail = " ".join(str(exc).split())[:300]
            print(f"error: {type(exc).__name__}: {detail} (unexpected; MLAB_TRACEBACK=1 shows where)", file=sys.stderr)
            return 2

    return guarded(wrapper)
