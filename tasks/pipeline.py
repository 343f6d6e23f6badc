"""The study's DAG as one library function (the entry points and the nightly call it).

    config → plan → datasets (Ray tasks, Parquet shards) → training bundles (Ray tasks, K
    models per compiled loop) → evaluation per bundle → collection per evaluation (the map)
    → aggregates per architecture (the reduce) → tidy tables and report

Everything already complete in the output store is reused, so rerunning resumes; a rerun whose
evaluations are all unchanged finds its results and report current and returns at once,
without starting Ray (redrawing the report when only the report's id changed). Each stage's
outputs are named by its inputs and its own version (tasks.core.ids), so a new version of one
stage redoes that stage and those after it, nothing before.
"""

from __future__ import annotations

import contextlib
import platform
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from tasks.core import logs
from tasks.core.errors import CorruptArtifactError
from tasks.core.ids import content_id
from tasks.evaluation.job import EVALUATION_VERSION
from tasks.jobs.collect import COLLECT_VERSION
from tasks.model.settings import TRAIN_VERSION
from tasks.report.aggregates import Summary, reference_range
from tasks.store import catalog
from tasks.store.catalog import ResultsManifest
from tasks.store.storage import Store
from tasks.study.plan import Plan
from tasks.study.render import config_yaml

LOG = logs.get("pipeline")

if TYPE_CHECKING:
    from tasks.cluster.orchestrate import Stages
    from tasks.cluster.placement import Placement
    from tasks.store.locks import Lock


@dataclass
class StudyResult:
    info: dict[str, Any]  # the run's metadata, with the report's location
    summary: Summary  # the study's aggregates (what the report, the nightly and comparisons use)
    on_gpu: bool | None = None  # the node kind whose costs the run taught (None: it ran nothing)


def run_study(
    plan: Plan,
    store: Store,
    address: str | None = None,
    num_cpus: int | None = None,
    verbose: bool = False,
    tensorboard: bool = False,
) -> StudyResult:
    """Run `plan` on Ray into `store` (`tensorboard`: also the curves as event files), holding
    the folder's lock: one run at a time writes it."""
    from tasks.cluster import runtime
    from tasks.cluster.leftovers import wait_for_leftovers
    from tasks.store.folder import run_lock

    # Ctrl-C and SIGTERM stop the study cleanly; a caller's own handlers come back afterwards
    with runtime.signals_handled(), run_lock(store) as lock:
        if lock.previous is not None:  # a run killed here: its Ray's workers may still be writing
            wait_for_leftovers(lock.previous, store.display())
        try:
            return _run_study(plan, store, lock, address, num_cpus, verbose, tensorboard)
        except KeyboardInterrupt:  # the study's own Ray: its training saves and stops before the lock goes
            runtime.interrupt_handled()  # delivered: the watchdog must not interrupt the stop itself
            runtime.shutdown(interrupted=True)
            raise


def _run_study(
    plan: Plan, store: Store, lock: Lock, address: str | None, num_cpus: int | None, verbose: bool, tensorboard: bool
) -> StudyResult:
    from tasks.cluster import orchestrate, runtime
    from tasks.cluster.placement import placement

    started = time.time()
    phases = Phases()
    reference = reference_of(plan)
    store.write_bytes(catalog.CONFIG_FILE, config_yaml(plan.config).encode())  # the study keeps what it ran
    with phases("reuse check"):
        current = reuse_current(store, plan, reference, tensorboard)
    if current is not None:
        current.info["phases"] = phases.seconds
        return current
    with phases("ray"):  # an existing cluster when asked for (or running here), else a local instance
        LOG.info(f"[ray] {runtime.connect(address, num_cpus, verbose)}")
        if session := runtime.own_session_dir():  # what a run taking over after a SIGKILL waits for
            lock.note(ray_session=session)
        where = placement(plan.config.resources, runtime.cluster_resources())
    catalog.RESULTS.invalidate(store)  # from here until the new manifest, the tables are being rebuilt
    with catalog.invalidating_corrupt(store):  # a corrupted input is reported and regenerated next run
        generated: list = []
        with phases("data"):
            orchestrate.ensure_datasets(store, plan.stored_datasets, generated)
        with phases("train, evaluate, collect"):  # streamed: each bundle goes on as soon as it can
            stages = orchestrate.train_evaluate_collect(store, plan, where, reference and reference[0], tensorboard)
        phases.move(stages.measure, "train, evaluate, collect", "measure")  # once per node kind, not per study
        with phases("summarise"):  # the reduces ran as each architecture's parts came in
            summary = orchestrate.study_summary(plan, stages)
    info = {**run_info(plan, stages, started), "reference_range": reference}
    info["calibration"] = stages.calibration
    info["bundle_tasks"] = task_totals(stages.tasks)
    with phases("results"):
        rid = results_id(plan, stages.eval_ids, reference, tensorboard)
        write_results(store, rid, stages.parts, summary, {**info, "phases": phases.seconds})
    with phases("report"):
        info["report"], drawn = write_report(store, rid, summary, info)
    info["phases"] = phases.seconds
    # a report found current (results rebuilt as they were) took no drawing: nothing to learn from
    learned = phases.seconds if drawn else {k: v for k, v in phases.seconds.items() if k != "report"}
    info["costs"] = learn_costs(plan, stages, learned, generated, where)
    return StudyResult(info, summary, where.on_gpu)


def task_totals(tasks: list[dict[str, Any]]) -> dict[str, float]:
    """The bundle tasks' seconds summed by part (read, prepare, train, compile, write,
    evaluate, collect, setup, total), with their count and models: where a run's time went."""
    parts = ("read", "prepare", "train", "compile", "write", "evaluate", "collect", "setup", "total")
    totals = {part: sum(t.get(part, 0.0) for t in tasks) for part in parts}
    return {"tasks": len(tasks), "models": sum(t["models"] for t in tasks), **totals}


def learn_costs(
    plan: Plan, stages: Stages, phases: dict[str, float], generated: list, where: Placement
) -> dict[str, Any]:
    """Fold what this run measured into the node's cached costs (tasks.study.costs), which size
    the next study's bundles and estimate its run; the costs as they are now."""
    from tasks.cluster import runtime
    from tasks.study.costs import report_panels, report_weight, store_costs
    from tasks.study.observe import observe_run

    data = (sum(s.n_shards for s in generated), sum(s.rows for s in generated)) if generated else None
    cpus = int(runtime.cluster_resources().get("CPU", 1)) or 1
    panels = report_panels(len(plan.config.architectures), len(plan.config.train_ranges))
    weight = report_weight(plan.config.report.vector_formats)
    sweeps = [c["seconds"] for c in stages.calibration.values() if isinstance(c, dict) and not c.get("cached")]
    costs = observe_run(stages.costs, stages.reduces, phases, stages.tasks, data, cpus, panels, weight, sweeps)
    store_costs(costs, where.on_gpu)
    return asdict(costs)


class Phases:
    """Wall-clock seconds per phase of a run (the benchmark's scale figures read them)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def move(self, seconds: float, source: str, to: str) -> None:
        """Count `seconds` of phase `source` as phase `to` (when nonzero)."""
        if seconds > 0:
            self.seconds[source] -= seconds
            self.seconds[to] = self.seconds.get(to, 0.0) + seconds


def reference_of(plan: Plan) -> list[Any] | None:
    """[label, lo, hi] of the training range the article's figures show (operands = inputs)."""
    if plan.config.evaluation.diagonal is None:
        return None
    ranges = [(tr.range.label(), tr.range.lo, tr.range.hi) for tr in plan.config.train_ranges]
    label = reference_range(ranges)
    return next([lab, lo, hi] for lab, lo, hi in ranges if lab == label)


def results_id(plan: Plan, eval_ids: list[str], reference: list[Any] | None, tensorboard: bool = False) -> str:
    """The study tables derive from the evaluations they collect, the settings of collection
    and the collection stage's version."""
    identity = {
        **({"tensorboard": True} if tensorboard else {}),
        "collect": COLLECT_VERSION,
        "evaluations": sorted(eval_ids),
        "fit_nrmse": plan.config.evaluation.fit_nrmse,
        "reference": reference,
        "architectures": [a.label() for a in plan.config.architectures],  # the aggregates' order
    }
    return content_id("res", identity)


def reuse_current(
    store: Store, plan: Plan, reference: list[Any] | None, tensorboard: bool = False
) -> StudyResult | None:
    """The study's results and report when every model is trained, every evaluation written and
    the results collected from exactly those evaluations (no Ray needed); else None."""
    from tasks.cluster.orchestrate import eval_jobs

    results = catalog.RESULTS.complete(store)
    if results is None or not results.results_id:
        return None
    trained = catalog.completed_models(store, TRAIN_VERSION).by_model
    if any(m.model_id not in trained for m in plan.models):
        return None
    jobs = eval_jobs(plan, trained, [])
    if any(catalog.EVALUATIONS.current(store, job.eval_id, EVALUATION_VERSION) is None for job in jobs):
        return None
    if results.results_id != results_id(plan, [j.eval_id for j in jobs], reference, tensorboard):
        return None
    try:
        summary = load_summary(store, results)  # read checksum-verified
    except CorruptArtifactError as exc:  # rebuilt by this run: every part is collected again
        store.invalidate(exc.directory or catalog.RESULTS.directory())
        LOG.warning(f"[reuse] {exc}: the results are rebuilt")
        return None
    info = dict(results.info)
    info["report"], redrawn = write_report(store, results.results_id, summary, info)
    said = "results are current, the report is redrawn" if redrawn else "results and report are current"
    LOG.info(
        f"[reuse] 0 of {len(plan.models)} models to train, 0 of {len(jobs)} evaluations to run: "
        f"{said} ({store.display(catalog.RESULTS.directory())})"
    )
    return StudyResult(info, summary)


def write_results(store: Store, rid: str, parts: list, summary: Summary, info: dict[str, Any]) -> ResultsManifest:
    """The aggregates beside the parts, the manifest last, then parts of earlier studies removed."""
    files = {f"{table}/part-{p.eval_id}": p.files[table] for p in parts for table in catalog.RESULT_TABLES}
    for name, table in summary.tables().items():
        frame = pa.Table.from_pandas(table, preserve_index=False)
        files[f"summary/{name}"] = store.write_parquet(catalog.results_summary_file(name), frame)
    manifest = catalog.RESULTS.write(store, ResultsManifest(rid, files, info, COLLECT_VERSION))
    listed = {f.path for f in files.values()}
    for table in catalog.RESULT_TABLES:
        directory = catalog.results_table_dir(table)
        for name in store.list_files(directory):
            if f"{directory}/{name}" not in listed and name.startswith("part-"):
                store.delete_file(f"{directory}/{name}")
    return manifest


def load_summary(store: Store, results: ResultsManifest) -> Summary:
    files = results.summary_files()
    return Summary(**{name: catalog.read_table(store, files[name]).to_pandas() for name in Summary.names()})


def write_report(store: Store, results: str, summary: Summary, info: dict[str, Any]) -> tuple[str, bool]:
    """The report's location, and whether it was drawn: not when the one in place shows the
    same results the same way (same report id)."""
    from tasks.report import page

    rid = page.report_id(results, info)
    current = catalog.REPORT.complete(store)
    redraw = current is None or current.report_id != rid
    if redraw:
        page.write_report(store, rid, page.build_report(summary, info))
    return store.display(catalog.report_file("index.html")), redraw


def run_info(plan: Plan, stages: Stages, started: float) -> dict[str, Any]:
    """The run's metadata, stored in the results manifest and shown in the report."""
    config = plan.config
    return {
        "config": config.name,
        "description": config.description,
        "config_resolved": asdict(config),  # tuples serialise as JSON lists
        "n_models": len(plan.models),
        "n_trained": stages.n_trained,
        "n_bundles": stages.n_bundles,
        "steps": config.training.steps,
        "seconds": time.time() - started,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "python": platform.python_version(),
    }


def read_results(store: Store, table: str) -> pd.DataFrame:
    """A whole study table (every part): for small studies, tests and notebooks."""
    results = catalog.RESULTS.complete(store)
    if results is None:
        return pd.DataFrame()
    frames = [catalog.read_table(store, p).to_pandas() for p in results.parts(table)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
