"""Compare two studies: headline metrics side by side, flagged beyond tolerance and seed noise.

    python workflows/compare.py OUT_A OUT_B [--out DIR] [--tolerance 0.1] [--no-fail-on-regression]

B is judged against A like a night against the previous one (tasks.nightly.compare): matched
by architecture and range; what only one study has is listed. Writes summary.md and
index.html (default: OUT_B/comparison/). Exit codes: 0 fine, 1 a regression of B against A
(unless --no-fail-on-regression), 2 bad input — so it can gate CI.
"""

from __future__ import annotations

import argparse
import sys

from tasks.cli import commands


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("a", metavar="OUT_A", help="the reference study's output directory or URI")
    p.add_argument("b", metavar="OUT_B", help="the study judged against it")
    p.add_argument("--out", help="where the comparison goes (default: OUT_B/comparison)")
    p.add_argument("--tolerance", type=float, default=0.10, help="relative change that can be flagged (default 0.1)")
    p.add_argument("--speed-tolerance", type=float, default=0.25, help="for training throughput (default 0.25)")
    p.add_argument(
        "--no-fail-on-regression", dest="fail_on_regression", action="store_false", help="exit 0 even on a regression"
    )
    p.add_argument("--plugin", dest="plugins", action="append", default=[], help="as for run.py")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return commands.compare(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
