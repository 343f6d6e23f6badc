"""Compare two studies' headline metrics: `mlab compare` as a script.

    python workflows/compare.py OUT_A OUT_B [--out DIR] [--tolerance 0.1] [--no-fail-on-regression]

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
