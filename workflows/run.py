"""Run a multiplication-extrapolation study end to end on Ray: `mlab run` as a script.

    python workflows/run.py [--config quick|smoke|seed|zoo|PRESET|PATH] [--set KEY=VALUE ...]
                            [--out DIR_OR_URI] [--address auto|HOST:PORT] [--dry-run]

The arguments and what they do: `--help`, or tasks/cli/parsers.py (shared with `mlab run`).
What `ray submit cluster.yaml workflows/run.py -- …` runs on the head.
"""

from __future__ import annotations

import sys

from tasks.cli.startup import stop_quietly_until_started

stop_quietly_until_started()  # before the heavy imports below

from tasks.cli.main import script_main

main = script_main("run")


if __name__ == "__main__":
    sys.exit(main())
