"""One night, as a library function: lock the date → read the history (a damaged history
stops here, untouched) → run the study into ROOT/DATE/<run>/ → headline metrics with 95%
intervals → compare with the previous night and the rolling median → record the night
(history partition, summary.md, night record last) → rebuild ROOT/index.html.
A failed night is recorded with its error; history is never dropped."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

import pandas as pd

from tasks.core.errors import UserError
from tasks.nightly import history, page
from tasks.nightly.compare import compare
from tasks.nightly.environment import describe_environment
from tasks.report.headlines import Headline, headline_frame, speed_headlines
from tasks.store import catalog
from tasks.store.catalog import NightRecord
from tasks.store.outputs import open_output
from tasks.store.storage import Store


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
    with history.DateLock(root, date):
        past = history.read_history(root)  # damaged history: a clear error, nothing written
        record, comparison = run_night(root, date, past, settings)
        publish(root, record, comparison)
    return record


def run_night(
    root: Store, date: str, past: pd.DataFrame, settings: NightSettings
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
        tonight, info = _study_headlines(root, record, settings)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a night that fails in any way is recorded as failed, with its error
        message = " ".join(str(exc).split())[:500] or type(exc).__name__
        record.status, record.error = "failed", f"{type(exc).__name__}: {message}"
        record.environment = describe_environment()
        if not ((past["date"] == date) & (past["status"] == "ok")).any():  # keep an earlier good run of this date
            history.write_history(root, date, history.failed_night_rows(date, record.error, record.run))
        return record, None
    comparison = compare(tonight, past, settings.tolerance, settings.window, settings.speed_tolerance)
    verdicts = comparison["verdict"].value_counts().to_dict()
    record.status = "ok"
    record.report = info["report"]
    record.report_link = f"{catalog.night_dir(date, record.run)}/{catalog.report_file('index.html')}"
    record.regressions = int(verdicts.get("regression", 0))
    record.improvements = int(verdicts.get("improvement", 0))
    record.environment = describe_environment()
    history.write_history(root, date, tonight.assign(status="ok", error="", run=record.run))  # a good night's last step
    return record, comparison


def _study_headlines(root: Store, record: NightRecord, settings: NightSettings) -> tuple[pd.DataFrame, dict]:
    """Run the night's study into its own output directory; its headline metrics."""
    from tasks.pipeline import run_study
    from tasks.study.loading import load_config
    from tasks.study.plan import make_plan

    config = load_config(settings.config, list(settings.overrides))
    store = open_output(root.child(catalog.night_dir(record.date, record.run)).uri)
    result = run_study(make_plan(config), store, settings.address, settings.num_cpus)
    summary = result.summary
    quality = [Headline(**row) for row in summary.headlines.to_dict("records")]
    speed = speed_headlines(summary.speeds["bundle_model_steps_per_s"].to_numpy())
    return headline_frame(quality + speed, record.date), result.info


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
