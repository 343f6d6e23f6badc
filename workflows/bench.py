"""Side-by-side benchmark of the project's hot paths: `mlab bench` as a script.

    python workflows/bench.py [--quick] [--num-cpus N] [--out DIR] [--scale 1.2k,12k,100k,1m]

The arguments and what they do: `--help`, or tasks/cli/parsers.py (shared with `mlab bench`).
"""

from __future__ import annotations

import sys

from tasks.cli.startup import stop_quietly_until_started

stop_quietly_until_started()  # before the heavy imports below

from tasks.cli.main import script_main

main = script_main("bench")


if __name__ == "__main__":
    sys.exit(main())
