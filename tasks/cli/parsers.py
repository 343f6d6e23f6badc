"""Every command's arguments, in one place: `mlab <command>` and `python workflows/<command>.py`
build their parsers here, so both spell and document every option alike. Light imports only:
a parser is built before the command's heavy imports (tasks.cli.startup)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass

from tasks.cli.arguments import (
    add_config_arguments,
    add_judgement_arguments,
    add_log_arguments,
    add_plugin_argument,
    add_ray_arguments,
    add_run_confirmations,
    add_selection_arguments,
    completes,
)
from tasks.cli.presets import PresetsHelpParser

LIST_FORMATS = ("table", "csv", "json")
EXPORT_FORMATS = ("keras", "savedmodel")


@dataclass(frozen=True)
class Command:
    summary: str  # one line, in `mlab --help`
    description: str  # the command's --help text
    arguments: Callable[[argparse.ArgumentParser], None]
    presets: bool = False  # its --help lists the shipped presets


def run_arguments(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p, default="quick")
    completes(p.add_argument("--out", help="output directory or URI (default: the config's `output`)"), "dir")
    add_ray_arguments(p)
    add_run_confirmations(p)
    p.add_argument("--dry-run", action="store_true", help="print the plan and exit without writing anything")
    p.add_argument("--verbose", action="store_true", help="show Ray and worker logs")
    p.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write TensorBoard runs in OUT/tensorboard: training curves, the model's spec as hparams, "
        "its metrics per evaluation range (needs the tensorboard package)",
    )
    add_log_arguments(p)


def nightly_arguments(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p, default="nightly")
    completes(
        p.add_argument(
            "--root", default="out/nightly", help="directory or URI holding every night (default: out/nightly)"
        ),
        "dir",
    )
    p.add_argument("--date", help="the night to run, YYYY-MM-DD (default: today, UTC)")
    add_judgement_arguments(p)
    p.add_argument("--window", type=int, default=7, help="nights in the rolling median shown beside it (default 7)")
    add_ray_arguments(p)
    add_log_arguments(p)


def bench_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="smaller sizes: finishes in about 3 minutes on 2 cores")
    p.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # the test-suite's smoke run
    p.add_argument("--num-cpus", type=int, default=os.cpu_count() or 2, help="CPUs for the local Ray instance")
    completes(
        p.add_argument("--out", help="empty scratch directory, kept (default: a temporary one, removed afterwards)"),
        "dir",
    )
    p.add_argument(
        "--scale",
        metavar="SIZES",
        help="instead: the scale figures for these study sizes, e.g. 1.2k,12k,100k,1m (tasks/bench/scale.py)",
    )
    p.add_argument("--nodes", type=int, default=4, help="simulated cluster nodes for the 1m scale study (default 4)")
    p.add_argument(
        "--tune-trials",
        type=int,
        default=100,
        help="with --scale: Ray Tune trials of a trivial trainable run beside it, per setting (default 100; 0: none)",
    )
    add_log_arguments(p)


def compare_arguments(p: argparse.ArgumentParser) -> None:
    completes(p.add_argument("a", metavar="OUT_A", help="the reference study's output directory or URI"), "dir")
    completes(p.add_argument("b", metavar="OUT_B", help="the study judged against it"), "dir")
    completes(p.add_argument("--out", help="where the comparison goes (default: OUT_B/comparison)"), "dir")
    add_judgement_arguments(p)
    add_plugin_argument(p)
    add_log_arguments(p)


def export_arguments(p: argparse.ArgumentParser) -> None:
    completes(p.add_argument("out", help="the study's output directory or URI"), "dir")
    p.add_argument("--model", help="the model's id (a row of `mlab ls OUT`)")
    add_selection_arguments(p, "or the model by what it is (together they must name one model):")
    p.add_argument("--format", choices=EXPORT_FORMATS, default="keras", help="keras (default) or savedmodel")
    completes(
        p.add_argument("--to", help="where to write (default: MODEL_ID.keras, or MODEL_ID/ for a SavedModel)"), "file"
    )
    add_plugin_argument(p)


def ls_arguments(p: argparse.ArgumentParser) -> None:
    completes(p.add_argument("out", help="the study's output directory or URI"), "dir")
    add_selection_arguments(p, "filters (all must hold):")
    p.add_argument("--format", choices=LIST_FORMATS, default="table", help="table (default), csv or json")
    add_plugin_argument(p)


def version_arguments(p: argparse.ArgumentParser) -> None:
    pass


def completion_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("shell", choices=("bash", "zsh"), help="the shell to write the completion script for")


COMMANDS: dict[str, Command] = {
    "run": Command(
        "run a study end to end on Ray",
        """Run a multiplication-extrapolation study end to end on Ray.

The DAG (tasks.pipeline): load and validate the config → plan datasets and models → generate
datasets (Ray tasks, Parquet shards) → train bundles of models (Ray tasks, one vectorized
computation each) → evaluate each bundle over its widening ranges (Ray tasks, chained to its
training) → collect tidy tables → write the report. Everything already complete in OUT is
reused, so rerunning resumes.""",
        run_arguments,
        presets=True,
    ),
    "nightly": Command(
        "the scheduled nightly study: run, compare with earlier nights, publish",
        """Scheduled nightly study: run, compare with earlier nights, publish.

Lock the date → read the history → run the study into ROOT/DATE/<run>/ → headline metrics with
95% intervals → each tested against the previous night's seeds (the rolling median beside it) →
record the night → rebuild ROOT/index.html (tasks.nightly.night). A failed night is recorded with its error.
Exit codes: 0 fine, 1 a regression (unless --no-fail-on-regression), 2 the night failed.""",
        nightly_arguments,
        presets=True,
    ),
    "bench": Command(
        "side-by-side benchmark of the hot paths on this machine",
        """Side-by-side benchmark of the project's hot paths, in one run on one machine.

(a) per-model Keras `fit` of the article's model and its peers (Keras tuned, the project's
trainer at K=1, at its calibrated bundle size and across a sweep of sizes; the ICLR preset's
NAU → NMU stack); (b) the trainer as Ray tasks; (c) the ratio (b)/(a); (d) dataset generation
against raw pyarrow; (e) Ray scaling on 1 and 2 slots; (f) a training task's peak RSS. With
--scale: each study size's phase times, driver peak RSS and unchanged rerun. GPU figures are
added when the Ray cluster has GPUs. The last line is one JSON object. --out must be empty or
new: a reused one would time cached work.""",
        bench_arguments,
    ),
    "compare": Command(
        "compare two studies' headline metrics: a test per headline, Holm, the tolerance",
        """Compare two studies: headline metrics side by side, each tested (Fisher's exact test for
success rates, the rank-sum test for medians and throughput), Holm across them all; flagged
when significant and beyond the tolerance, "underpowered" where the seeds cannot decide.

B is judged against A like a night against the previous one (tasks.report.judgement): matched by
architecture and range; what only one study has is listed. Writes summary.md and index.html
(default: OUT_B/comparison/). Exit codes: 0 fine, 1 a regression of B against A (unless
--no-fail-on-regression), 2 bad input — so it can gate CI.""",
        compare_arguments,
    ),
    "export": Command(
        "export one trained model as a Keras file or a SavedModel",
        """Export one trained model of a study as a Keras model.

Name it by id (--model, from `mlab ls OUT`) or by what it is (--arch, --train-range, --seed:
together they must name exactly one model). `keras` writes a .keras file (keras.models.load_model
opens it; architectures other than a plain MLP need the project importable: tasks.api.load_keras);
`savedmodel` writes a TensorFlow SavedModel directory that loads without the project
(tf.saved_model.load, keras.layers.TFSMLayer).""",
        export_arguments,
    ),
    "ls": Command(
        "list a study's models: architecture, training range, seed, fit, success, id",
        """List a study's models by what they are: architecture label, training range, seed, whether
it fits its training range, on how many of its extrapolation ranges it succeeds (k/n), and its
id (for export --model, tasks.api). Filters narrow the list; --format csv|json for scripts.""",
        ls_arguments,
    ),
    "version": Command(
        "print the lab's version, its git commit, and the Python, TensorFlow and Ray versions",
        "Print the lab's version, its git commit (when run from a checkout), and the Python, "
        "TensorFlow and Ray versions it runs with.",
        version_arguments,
    ),
    "completion": Command(
        "print a shell completion script (bash or zsh)",
        """Print a completion script for mlab's commands and options.

bash:  mlab completion bash > ~/.local/share/bash-completion/completions/mlab
       (or: source <(mlab completion bash) in ~/.bashrc)
zsh:   mlab completion zsh > "${fpath[1]}/_mlab"   (a directory on $fpath; then compinit)""",
        completion_arguments,
    ),
}


class VersionAction(argparse.Action):
    """--version: the lab's version and commit (read only when asked: it runs git)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="print the version and exit")

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from tasks.cli.version import short_version

        print(short_version())
        parser.exit()


def command_parser(name: str, prog: str | None = None) -> argparse.ArgumentParser:
    """The parser of one command on its own (a workflows/ script's)."""
    command = COMMANDS[name]
    parser = PresetsHelpParser(
        prog=prog, description=command.description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.lists_presets = command.presets
    command.arguments(parser)
    return parser


def mlab_parser() -> argparse.ArgumentParser:
    """`mlab` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="mlab",
        description="multiplication-lab: how networks that learned a·b extrapolate (Ray + TensorFlow).",
        epilog="`mlab COMMAND --help` for a command's options.",
    )
    parser.add_argument("--version", action=VersionAction)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=PresetsHelpParser)
    for name, command in COMMANDS.items():
        sub = commands.add_parser(
            name,
            help=command.summary,
            description=command.description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.lists_presets = command.presets
        command.arguments(sub)
    return parser
