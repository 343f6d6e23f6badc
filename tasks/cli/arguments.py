"""Command-line arguments shared by the entry points, so every command spells them alike."""

from __future__ import annotations

import argparse


def completes(action: argparse.Action, kind: str) -> argparse.Action:
    """Say what a value of `action` is, for the shell completion (tasks.cli.completion):
    "config" (a preset or a config file), "dir", "file"; choices complete by themselves."""
    action.completes = kind
    return action


def add_config_arguments(parser: argparse.ArgumentParser, default: str) -> None:
    action = parser.add_argument(
        "--config", default=default, help=f"shipped preset (listed below) or a .yaml/.toml path (default: {default})"
    )
    completes(action, "config")
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
    action = parser.add_argument(
        "--plugin",
        dest="plugins",
        action="append",
        default=[],
        metavar="MODULE|FILE.py",
        help="load architectures or operations from your own module or file (repeatable); see docs/extend/",
    )
    completes(action, "file")


def add_selection_arguments(parser: argparse.ArgumentParser, title: str) -> None:
    """Models by what they are (tasks.report.listing.Selection): `ls` filters, `export` picks one."""
    group = parser.add_argument_group(title)
    group.add_argument(
        "--arch", help="architecture: its label as `mlab ls` shows it, its name (mlp), or a stack's layers"
    )
    group.add_argument("--train-range", metavar="RANGE", help="training range, e.g. [0,2] or 0,2 or [-6,-2]∪[2,6]")
    group.add_argument("--seed", type=int, help="seed")


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
