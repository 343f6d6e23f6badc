"""Compare two studies' headline metrics: `mlab compare` as a script.

    python workflows/compare.py OUT_A OUT_B [--out DIR] [--tolerance 0.1] [--no-fail-on-regression]

B is judged against A like a night against the previous one (tasks.report.judgement): matched
by architecture and range; what only one study has is listed. Writes summary.md and
index.html (default: OUT_B/comparison/). Exit codes: 0 fine, 1 a regression of B against A
(unless --no-fail-on-regression), 2 an error, in one line (a crash too: never read as a
regression) — so it can gate CI. The studies may differ in architectures, ranges and seeds.
The arguments and what they do: `--help`, or tasks/cli/parsers.py (shared with `mlab compare`).
"""

from __future__ import annotations

import sys

from tasks.cli.startup import stop_quietly_until_started

stop_quietly_until_started()  # before the heavy imports below

from tasks.cli.main import script_main

main = script_main("compare")


if __name__ == "__main__":
    sys.exit(main())
