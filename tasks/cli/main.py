"""`mlab`, the lab's one command (pyproject [project.scripts]), and the workflows/ scripts,
which run the same commands with the same parsers (tasks.cli.parsers):

    mlab run --config quick              python workflows/run.py --config quick
    mlab nightly --root DIR              python workflows/nightly.py --root DIR
    mlab bench | compare A B | export OUT --model ID | ls OUT | version | completion bash|zsh

Ctrl-C during start-up exits 130 in one line (tasks.cli.startup): `main` takes the signals over
before it imports anything heavy; the commands import TensorFlow, Ray and pandas themselves.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from tasks.cli.startup import stop_quietly_until_started


def dispatch(name: str, args: argparse.Namespace) -> int:
    """Run command `name` (its heavy imports happen here, after the start-up guard)."""
    if name == "version":
        from tasks.cli.version import version_report

        print(version_report())
        return 0
    if name == "completion":
        from tasks.cli.completion import completion_script
        from tasks.cli.parsers import mlab_parser
        from tasks.cli.presets import one_line, presets

        shortened = {preset: one_line(text, 70) for preset, text in presets().items()}
        print(completion_script(args.shell, mlab_parser(), shortened), end="")
        return 0
    from tasks.core import logs

    logs.configure(getattr(args, "log_level", "info"))  # timestamped lines in order on stderr (rich on a terminal)
    from tasks.cli import commands

    return getattr(commands, name)(args)


def main(argv: list[str] | None = None) -> int:
    """The `mlab` console script."""
    stop_quietly_until_started()
    from tasks.cli.parsers import mlab_parser

    args = mlab_parser().parse_args(argv)
    args.whole_process = argv is None  # this process runs the command line (not a caller's Python)
    return dispatch(args.command, args)


def script_main(name: str) -> Callable[[list[str] | None], int]:
    """`main(argv)` of workflows/<name>.py: `mlab <name>` under the script's own name."""

    def main(argv: list[str] | None = None) -> int:
        stop_quietly_until_started()
        from tasks.cli.parsers import command_parser

        args = command_parser(name).parse_args(argv)
        args.whole_process = argv is None  # this process runs the command line (not a caller's Python)
        return dispatch(name, args)

    return main


if __name__ == "__main__":
    sys.exit(main())
