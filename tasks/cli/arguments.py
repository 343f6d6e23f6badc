"""Command-line arguments shared by the entry points, so every command spells them alike."""

from __future__ import annotations

import argparse
from collections.abc import Callable


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
    add_plugin_argument(parser)


def add_plugin_argument(parser: argparse.ArgumentParser) -> None:
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


def add_run_confirmations(parser: argparse.ArgumentParser) -> None:
    """What a run does only when told: replace another study's output, run longer than a day."""
    parser.add_argument(
        "--replace",
        action="store_true",
        help="let this study replace a different study held in --out (default: refuse)",
    )
    parser.add_argument(
        "--yes",
        action="store_true",
        help="run even when the estimate exceeds 24 h on the Ray used (default: refuse, with the estimate)",
    )


def add_judgement_arguments(parser: argparse.ArgumentParser) -> None:
    """How a change is judged (tasks.report.judgement.verdict): the nightly and compare.py alike."""
    parser.add_argument(
        "--tolerance", type=float, default=0.10, help="relative change that can be flagged (default 0.1)"
    )
    parser.add_argument(
        "--speed-tolerance",
        type=float,
        default=0.25,
        help="relative change of training throughput that can be flagged (default 0.25)",
    )
    parser.add_argument(
        "--no-fail-on-regression",
        dest="fail_on_regression",
        action="store_false",
        help="exit 0 even when a regression is flagged",
    )


def entry_point(
    build: Callable[[], argparse.ArgumentParser], command: Callable[[argparse.Namespace], int]
) -> Callable[[list[str] | None], int]:
    """`main(argv)` of a workflows/ script: parse with `build()`, run `command`."""

    def main(argv: list[str] | None = None) -> int:
        return command(build().parse_args(argv))

    return main
