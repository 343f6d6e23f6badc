"""Scheduled nightly study: run, compare with earlier nights, publish.

    python workflows/nightly.py [--config nightly] [--root DIR_OR_URI] [--date YYYY-MM-DD]
                                [--tolerance 0.1] [--window 7] [--no-fail-on-regression]

Lock the date → read the history → run the study into ROOT/DATE/<run>/ → headline metrics
with 95% intervals → compare with the previous night and the rolling median → record the
night → rebuild ROOT/index.html (tasks.nightly.night). A failed night is recorded with its
error. Exit codes: 0 fine (or config changed: not judged), 1 a regression (unless
--no-fail-on-regression), 2 the night failed; the summary states the same status.
"""

from __future__ import annotations

import argparse
import sys

from tasks.cli.startup import stop_quietly_until_started

stop_quietly_until_started()  # before the heavy imports below

from tasks.cli import commands
from tasks.cli.arguments import add_config_arguments, add_judgement_arguments, add_ray_arguments


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_config_arguments(p, default="nightly")
    p.add_argument("--root", default="out/nightly", help="directory or URI holding every night (default: out/nightly)")
    p.add_argument("--date", help="the night to run, YYYY-MM-DD (default: today, UTC)")
    add_judgement_arguments(p)
    p.add_argument("--window", type=int, default=7, help="nights in the rolling median (default 7)")
    add_ray_arguments(p)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return commands.nightly(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
