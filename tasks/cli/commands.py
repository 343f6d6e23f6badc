"""What the commands do once their arguments are parsed: one guarded call each (`mlab <name>`
and workflows/<name>.py alike; tasks.cli.main dispatches here by name)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time

from tasks.cli.describe import describe_plan, refuse_long_run
from tasks.cli.guard import gate, guarded
from tasks.core import logs
from tasks.core.errors import UserError
from tasks.core.hardware import process_age
from tasks.model.plugins import load_plugins
from tasks.store import folder
from tasks.store.outputs import open_output
from tasks.study.loading import load_config
from tasks.study.plan import make_plan
from tasks.study.render import config_yaml

LOG = logs.get("cli")


@guarded
def run(args: argparse.Namespace) -> int:
    """Validate everything first, then run the study (or describe it)."""
    # the whole command, as `time` would say, where this process runs it (not a caller's Python)
    started = time.perf_counter() - (process_age() if getattr(args, "whole_process", False) else 0.0)
    load_plugins(args.plugins)
    config = load_config(args.config, args.overrides)
    if args.print_config:
        print(config_yaml(config), end="")
        return 0
    out = args.out or config.output
    planning = time.perf_counter()  # the study's own clock starts at its plan (tasks.study.estimate)
    plan = make_plan(config)
    if args.dry_run:
        open_output(out, create=False)
        print(describe_plan(plan, out, plan_seconds=time.perf_counter() - planning))
        return 0
    from tasks.pipeline import run_study

    if args.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise UserError("--tensorboard needs the tensorboard package: pip install tensorboard")
    for warning in plan.warnings:
        LOG.warning(warning)
    ray_cpus = connected_cpus(args.address, args.num_cpus, args.verbose)  # a cluster that does not answer: here
    if not getattr(args, "yes", False):
        refuse_long_run(plan, *ray_cpus)
    store = open_output(out)
    replacing = folder.claim(store, plan.config, getattr(args, "replace", False))  # before the study writes
    if replacing:
        LOG.info(replacing)
    result = run_study(plan, store, args.address, args.num_cpus, args.verbose, args.tensorboard)
    if result.on_gpu is not None and getattr(args, "whole_process", False):  # it ran, as a command
        stopping = time.perf_counter()
        from tasks.cluster import runtime

        runtime.shutdown()  # the guard would, after this line; timed here, it is a cost of the command
        learn_process_cost(result.on_gpu, planning - started + time.perf_counter() - stopping)
    done = f"[done] {len(plan.models)} models in {time.perf_counter() - started:.0f}s. Report: {result.info['report']}"
    print(done, flush=True)  # the command's answer, on stdout, after every log line
    return 0


def learn_process_cost(on_gpu: bool, seconds: float) -> None:
    """Fold the command's own start and its Ray's stop into the costs of the node kind the
    study ran on (the dry run's `launch/stop` phase)."""
    from tasks.study.costs import load_costs, store_costs
    from tasks.study.observe import observe_process

    store_costs(observe_process(load_costs(on_gpu), seconds), on_gpu)


def connected_cpus(address: str | None, num_cpus: int | None, verbose: bool) -> tuple[int, str]:
    """(CPUs, which Ray) the study will run on: a named cluster is connected to now (and must
    answer); a Ray of the study's own is sized by --num-cpus or this machine."""
    import os

    from tasks.cluster import runtime

    if runtime.resolve_address(address) is None:
        return num_cpus or os.cpu_count() or 1, "a Ray of its own on this machine"
    runtime.connect(address, num_cpus, verbose)
    return int(runtime.cluster_resources().get("CPU", 1)) or 1, "the Ray cluster it is connected to"


@gate
def nightly(args: argparse.Namespace) -> int:
    """Exit 0 fine (or config changed), 1 a regression (unless disabled), 2 a failed night."""
    load_plugins(args.plugins)
    if args.print_config:
        print(config_yaml(load_config(args.config, args.overrides)), end="")
        return 0
    from tasks.nightly.night import NightSettings, night_date, open_nightly_root, run_nightly  # seaborn: ≈ 1 s

    date = night_date(args.date)
    root = open_nightly_root(args.root)
    settings = NightSettings(
        config=args.config,
        overrides=tuple(args.overrides),
        tolerance=args.tolerance,
        speed_tolerance=args.speed_tolerance,
        window=args.window,
        address=args.address,
        num_cpus=args.num_cpus,
        plugins=tuple(args.plugins),
        fail_on_regression=args.fail_on_regression,
    )
    record = run_nightly(root, date, settings)
    print(
        f"[nightly] {date}: {record.outcome}; regressions {record.regressions}, "
        f"improvements {record.improvements}. Index: {root.display('index.html')}",
        flush=True,
    )
    if record.status == "failed":
        print(f"error: night {date} failed: {record.error}", file=sys.stderr)
    return record.exit_code  # the code the night's summary states


@guarded
def export(args: argparse.Namespace) -> int:
    """One model of a study, by id or by what it is, as a Keras file or a SavedModel."""
    from tasks.api import open_study
    from tasks.cli.quiet import quiet_tensorflow

    selected = args.arch is not None or args.train_range is not None or args.seed is not None
    if args.model and selected:
        raise UserError("name the model either by --model or by --arch/--train-range/--seed, not both")
    if args.model is None and not selected:
        raise UserError(f"which model? --model ID, or --arch/--train-range/--seed (see: mlab ls {args.out})")
    study = open_study(args.out, args.plugins)
    model = study.model(args.model, arch=args.arch, train_range=args.train_range, seed=args.seed)
    quiet_tensorflow()  # before the export imports it: no start-up chatter on stderr
    target = args.to or (f"{model.model_id}.keras" if args.format == "keras" else model.model_id)
    path = study.export(model, target, args.format)
    print(f"[export] {model.model_id} → {path} ({args.format})")
    return 0


@guarded
def ls(args: argparse.Namespace) -> int:
    """A study's models by what they are, as a table, CSV or JSON."""
    from tasks.api import open_study
    from tasks.cli.listing import render

    listing = open_study(args.out, args.plugins).listing(args.arch, args.train_range, args.seed)
    print(render(listing, args.format), end="")
    return 0


@guarded
def bench(args: argparse.Namespace) -> int:
    """The benchmark harness (it prints its own figures)."""
    from tasks.bench.harness import run_bench

    return run_bench(args)


@gate
def compare(args: argparse.Namespace) -> int:
    """Exit 0 fine, 1 a regression of B against A (unless disabled)."""
    from tasks.api import open_study
    from tasks.report.comparison import compare_headlines, comparison_pages, headline_table
    from tasks.store.storage import Store

    studies = [open_study(out, args.plugins) for out in (args.a, args.b)]
    summaries = [s.summary for s in studies]
    table = compare_headlines(*(headline_table(s) for s in summaries), args.tolerance, args.speed_tolerance)
    names = tuple(s.store.display() for s in studies)
    models = tuple(set(s.table("models")["model_id"]) for s in studies)
    fits = (summaries[0].fit, summaries[1].fit)
    md, page = comparison_pages(names, table, fits, models, args.tolerance, args.speed_tolerance)
    target = Store(args.out) if args.out else studies[1].store.child("comparison")
    target.write_bytes("summary.md", md.encode())
    target.write_bytes("index.html", page.encode())
    counts = table["verdict"].value_counts()
    regressions = int(counts.get("regression", 0))
    labels = {"improvements": "improvement", "no change": "no change", "underpowered": "underpowered"}
    said = ", ".join(f"{word} {int(counts.get(verdict, 0))}" for word, verdict in labels.items())
    print(f"[compare] regressions {regressions}, {said}. Report: {target.display('index.html')}")
    return 1 if regressions and args.fail_on_regression else 0
