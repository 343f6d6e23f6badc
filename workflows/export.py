"""Export one trained model of a study as a Keras model: `mlab export` as a script.

    python workflows/export.py OUT (--model MODEL_ID | --arch A --train-range R --seed S)
                               [--format keras|savedmodel] [--to PATH]

The arguments and what they do: `--help`, or tasks/cli/parsers.py (shared with `mlab export`).
"""

from __future__ import annotations

import sys

from tasks.cli.startup import stop_quietly_until_started

stop_quietly_until_started()  # before the heavy imports below

from tasks.cli.main import script_main

main = script_main("export")


if __name__ == "__main__":
    sys.exit(main())
