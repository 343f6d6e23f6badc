"""One night, as a library function: lock the date → read the history (a damaged history
stops here, untouched) → run the study into ROOT/DATE/<run>/ → headline metrics with 95%
intervals → compare with the previous night and the rolling median → record the night
(history partition, summary.md, night record last) → rebuild ROOT/index.html.
A failed night is recorded with its error; history is never dropped."""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass, field

import pandas as pd

from tasks.core.errors import UserError
from tasks.nightly import history, page
from tasks.nightly.compare import compare
from tasks.nightly.environment import describe_environment
from tasks.report.headlines import Headline, headline_frame, throughput
from tasks.store import catalog
from tasks.store.catalog import NightRecord
from tasks.store.outputs import open_output
from tasks.store.storage import Store
from tasks.study import identity
from tasks.study.render import config_to_raw


@dataclass(frozen=True)
class NightSettings:
    config: str = "nightly"
    overrides: tuple[str, ...] = ()
    tolerance: float = 0.10
    speed_tolerance: float = 0.25
    window: int = 7
    address: str | None = None
    num_cpus: int | None = None
    plugins: tuple[str, ...] = field(default=())
    fail_on_regression: bool = True  # a regression exits 1 (and the summary says so)


# A lock is stale once older than its run can last: LOCK_FACTOR × the study's estimate + LOCK_SLACK_S.
LOCK_FACTOR, LOCK_SLACK_S = 3.0, 3600.0


def night_date(text: str | None) -> str:
    if text is None:
        return dt.datetime.now(dt.UTC).date().isoformat()
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise UserError(f"--date must be YYYY-MM-DD, got {text!r}") from None


def open_nightly_root(uri: str) -> Store:
    """Like --out for run.py: a new or empty location, or one that already holds nights."""
    root = Store(uri)
    root.check_reachable()
    if not root.exists(catalog.NIGHTLY_MARKER):
        if root.exists("") and (root.list_files("") or root.list_dirs("")):
            raise UserError(
                f"{root.display()} already exists and is not a nightly root (no {catalog.NIGHTLY_MARKER}); "
                "choose another --root"
            )
        root.write_json(catalog.NIGHTLY_MARKER, {"kind": "multiplication-lab nightly root"})
    return root


def run_nightly(root: Store, date: str, settings: NightSettings) -> NightRecord:
    """The whole night under its date lock; returns its record."""
    with history.DateLock(root, date, lock_lifetime(settings)):
        past = history.read_history(root)  # damaged history: a clear error, nothing written
        nights = catalog.read_night_records(root)
        record, comparison = run_night(root, date, past, settings, nights)
        publish(root, record, comparison)
    return record


def lock_lifetime(settings: NightSettings) -> float:
    """How long the night's run can last, from its study's estimate on this machine (a config
    that does not load here fails inside the night, recorded; its lock gets the default)."""
    from tasks.study.estimate import estimate_seconds
    from tasks.study.loading import load_config
    from tasks.study.plan import make_plan

    try:
        plan = make_plan(load_config(settings.config, list(settings.overrides)))
    except UserError:
        return history.LOCK_STALE_SECONDS
    return LOCK_FACTOR * estimate_seconds(plan, settings.num_cpus or os.cpu_count() or 1) + LOCK_SLACK_S


def run_night(
    root: Store, date: str, past: pd.DataFrame, settings: NightSettings, nights: dict[str, NightRecord] | None = None
) -> tuple[NightRecord, pd.DataFrame | None]:
    record = NightRecord(
        date=date,
        status="running",
        run=f"r-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}",
        config=settings.config,
        tolerance=settings.tolerance,
        started=time.time(),
    )
    try:
        tonight, info, summary, config = _study_headlines(root, record, settings)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a night that fails in any way is recorded as failed, with its error
        message = " ".join(str(exc).split())[:500] or type(exc).__name__
        record.status, record.error = "failed", f"{type(exc).__name__}: {message}"
        record.environment = describe_environment()
        record.outcome, record.exit_code = outcome(record, settings.fail_on_regression)
        if not ((past["date"] == date) & (past["status"] == "ok")).any():  # keep an earlier good run of this date
            history.write_history(root, date, history.failed_night_rows(date, record.error, record.run))
        return record, None
    record.config_resolved = config_to_raw(config)
    earlier = {d: r for d, r in (nights or {}).items() if d < date and r.status == "ok"}
    previous = earlier[max(earlier)] if earlier else None
    record.config_changed = config_change(previous, record.config_resolved)
    if record.config_changed:  # a changed config explains any change: shown beside the last night, not judged
        comparison = compare(tonight, past, settings.tolerance, settings.window, settings.speed_tolerance)
        comparison["verdict"] = comparison["verdict"].where(comparison["verdict"] == "new", "config changed")
    else:  # judged against the nights that ran this config (and those that did not record theirs)
        same = [d for d, r in earlier.items() if not config_change(r, record.config_resolved)]
        comparable = past[past["date"].isin(same) | ~past["date"].isin(list(earlier))]
        comparison = compare(tonight, comparable, settings.tolerance, settings.window, settings.speed_tolerance)
    verdicts = comparison["verdict"].value_counts().to_dict()
    record.status = "ok"
    record.report = info["report"]
    record.report_link = f"{catalog.night_dir(date, record.run)}/{catalog.report_file('index.html')}"
    record.regressions = int(verdicts.get("regression", 0))
    record.improvements = int(verdicts.get("improvement", 0))
    record.notes = [throughput(summary.speeds)[1]]
    record.environment = describe_environment()
    record.outcome, record.exit_code = outcome(record, settings.fail_on_regression)
    history.write_history(root, date, tonight.assign(status="ok", error="", run=record.run))  # a good night's last step
    return record, comparison


def config_change(previous: NightRecord | None, resolved: dict) -> str:
    """How tonight's resolved config differs from an earlier night's in what changes results
    ("" when it does not, or that night did not record its config). Seeds are not a change:
    the seed is the unit of replication, which the verdict's seed-noise test accounts for."""
    if previous is None or not previous.config_resolved:
        return ""
    old = identity.settings(previous.config_resolved, keep=())
    new = identity.settings(resolved, keep=())
    changed = [k for k in identity.differences(old, new) if k != "seeds" and not k.startswith("seeds[")]
    return identity.describe(old, new, changed) if changed else ""


def outcome(record: NightRecord, fail_on_regression: bool) -> tuple[str, int]:
    """What the night's summary says and its exit code, decided once so they always agree."""
    if record.status == "failed":
        return "failed", 2
    if record.regressions:
        return ("regression", 1) if fail_on_regression else ("regression (not failing: --no-fail-on-regression)", 0)
    if record.config_changed:
        return "config changed", 0
    return "ok", 0


def _study_headlines(root: Store, record: NightRecord, settings: NightSettings):
    """Run the night's study into its own output directory: its headline metrics, run info,
    summary and config."""
    from tasks.pipeline import run_study
    from tasks.study.loading import load_config
    from tasks.study.plan import make_plan

    config = load_config(settings.config, list(settings.overrides))
    store = open_output(root.child(catalog.night_dir(record.date, record.run)).uri)
    result = run_study(make_plan(config), store, settings.address, settings.num_cpus)
    summary = result.summary
    quality = [Headline(**row) for row in summary.headlines.to_dict("records")]
    frame = headline_frame(quality + throughput(summary.speeds)[0], record.date)
    return frame, result.info, summary, config


def publish(root: Store, record: NightRecord, comparison: pd.DataFrame | None) -> None:
    """The night's summary and record (the record last: it marks the night done), then the index."""
    record.finished = time.time()
    nights = catalog.read_night_records(root)
    earlier = nights.get(record.date)
    if record.status == "failed" and earlier is not None and earlier.status == "ok":
        earlier.last_attempt = {"status": "failed", "error": record.error, "run": record.run}
        record = earlier
    else:
        root.write_bytes(
            f"{catalog.night_dir(record.date)}/summary.md", page.night_summary(record, comparison).encode()
        )
    catalog.write_night_record(root, record)
    if record.status == "ok" and record.run:
        for old in root.list_dirs(catalog.night_dir(record.date)):  # earlier runs of this date are replaced
            if old.startswith("r-") and old != record.run:
                root.delete_dir(catalog.night_dir(record.date, old))
    nights[record.date] = record
    comparisons = {record.date: comparison} if comparison is not None else {}
    root.write_bytes("index.html", page.index_page(history.read_history(root), nights, comparisons).encode())
