"""Command-line arguments shared by the entry points, so every command spells them alike."""

from __future__ import annotations

import argparse


def add_config_arguments(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--config", default=default, help=f"shipped config name or a .yaml/.toml path (default: {default})"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config value, e.g. --set training.steps=2000 (dotted key, YAML value; repeatable)",
    )
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print the resolved config (file, then every --set; defaults filled in) and exit",
    )
    parser.add_argument(
        "--plugin",
        dest="plugins",
        action="append",
        default=[],
        metavar="MODULE|FILE.py",
        help="load architectures from your own module or file (repeatable); see README 'Bring your own architecture'",
    )


def add_ray_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", help="Ray address ('auto' = the running cluster); default: $RAY_ADDRESS or local")
    parser.add_argument("--num-cpus", type=int, help="CPUs for a local Ray instance (default: all)")
