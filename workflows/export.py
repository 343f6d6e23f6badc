"""Export one trained model of a study as a Keras model.

    python workflows/export.py OUT --model MODEL_ID [--format keras|savedmodel] [--to PATH]

`keras` writes a .keras file (keras.models.load_model opens it; architectures other than a
plain MLP need the project importable: `import tasks.model.keras_models` or
tasks.api.load_keras); `savedmodel` writes a TensorFlow SavedModel directory that loads
without the project (tf.saved_model.load, keras.layers.TFSMLayer). Model ids are in
OUT/results/models (tasks.api.open_study(OUT).models()).
"""

from __future__ import annotations

import argparse
import sys

from tasks.cli.startup import stop_quietly_until_started

stop_quietly_until_started()  # before the heavy imports below

from tasks.cli import commands
from tasks.cli.arguments import add_plugin_argument, entry_point


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", help="the study's output directory or URI")
    p.add_argument("--model", required=True, help="the model's id (a row of results/models)")
    p.add_argument("--format", choices=("keras", "savedmodel"), default="keras")
    p.add_argument("--to", help="where to write (default: MODEL_ID.keras, or MODEL_ID/ for a SavedModel)")
    add_plugin_argument(p)
    return p


main = entry_point(parser, commands.export)


if __name__ == "__main__":
    sys.exit(main())
