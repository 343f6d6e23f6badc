"""Run a multiplication-extrapolation study end to end on Ray.

    python workflows/run.py [--config quick|smoke|seed|zoo|PRESET|PATH] [--set KEY=VALUE ...]
                            [--out DIR_OR_URI] [--address auto|HOST:PORT] [--dry-run]

The DAG (tasks.pipeline): load and validate the config → plan datasets and models →
generate datasets (Ray tasks, Parquet shards) → train bundles of models (Ray tasks, one
vectorized computation each) → evaluate each bundle over its widening ranges (Ray tasks,
chained to its training) → collect tidy tables → write the report.
Everything already complete in OUT is reused, so rerunning resumes.
"""

from __future__ import annotations

import argparse
import sys

from tasks.cli.startup import stop_quietly_until_started

stop_quietly_until_started()  # before the heavy imports below

from tasks.cli import commands
from tasks.cli.arguments import add_config_arguments, add_ray_arguments, add_run_confirmations


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_config_arguments(p, default="quick")
    p.add_argument("--out", help="output directory or URI (default: the config's `output`)")
    add_ray_arguments(p)
    add_run_confirmations(p)
    p.add_argument("--dry-run", action="store_true", help="print the plan and exit without writing anything")
    p.add_argument("--verbose", action="store_true", help="show Ray and worker logs")
    p.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write the training curves as TensorBoard runs in OUT/tensorboard",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return commands.run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
