"""Scheduled nightly study: run, compare with earlier nights, publish — `mlab nightly` as a script.

    python workflows/nightly.py [--config nightly] [--root DIR_OR_URI] [--date YYYY-MM-DD]
                                [--tolerance 0.1] [--window 7] [--no-fail-on-regression]

Lock the date → read the history → run the study into ROOT/DATE/<run>/ → headline metrics
with 95% intervals → compare with the previous night and the rolling median → record the
night → rebuild ROOT/index.html (tasks.nightly.night). A failed night is recorded with its
error. Exit codes: 0 fine (or config changed: not judged), 1 a regression (unless
--no-fail-on-regression), 2 the night failed; the summary states the same status.
The arguments and what they do: `--help`, or tasks/cli/parsers.py (shared with `mlab nightly`).
What cron, the systemd timer and `ray job submit … python workflows/nightly.py` run (workflows/schedule/).
"""

from __future__ import annotations

import sys

from tasks.cli.startup import stop_quietly_until_started

stop_quietly_until_started()  # before the heavy imports below

from tasks.cli.main import script_main

main = script_main("nightly")


if __name__ == "__main__":
    sys.exit(main())
