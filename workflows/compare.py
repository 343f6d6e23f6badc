"""Compare two studies: headline metrics side by side, flagged beyond tolerance and seed noise.

    python workflows/compare.py OUT_A OUT_B [--out DIR] [--tolerance 0.1] [--no-fail-on-regression]

B is judged against A like a night against the previous one (tasks.report.judgement): matched
by architecture and range; what only one study has is listed. Writes summary.md and
index.html (default: OUT_B/comparison/). Exit codes: 0 fine, 1 a regression of B against A
(unless --no-fail-on-regression), 2 an error, in one line (a crash too: never read as a
regression) — so it can gate CI. The studies may differ in architectures, ranges and seeds.
"""

from __future__ import annotations

import argparse
import sys

from tasks.cli.startup import stop_quietly_until_started

stop_quietly_until_started()  # before the heavy imports below

from tasks.cli import commands
from tasks.cli.arguments import add_judgement_arguments, add_plugin_argument, entry_point


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("a", metavar="OUT_A", help="the reference study's output directory or URI")
    p.add_argument("b", metavar="OUT_B", help="the study judged against it")
    p.add_argument("--out", help="where the comparison goes (default: OUT_B/comparison)")
    add_judgement_arguments(p)
    add_plugin_argument(p)
    return p


main = entry_point(parser, commands.compare)


if __name__ == "__main__":
    sys.exit(main())
