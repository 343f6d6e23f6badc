"""Scheduled nightly study: run, compare with earlier nights, publish.

    python workflows/nightly.py [--config nightly] [--root DIR_OR_URI] [--date YYYY-MM-DD]
                                [--tolerance 0.1] [--window 7] [--no-fail-on-regression]

Top to bottom: lock the date → read the history (a damaged history stops here, untouched)
→ run the study into ROOT/DATE/<run>/ → headline metrics with 95% intervals → compare with
the previous night and the rolling median → record the night (history partition, night
record, summary.md) → rebuild ROOT/index.html. A failed night is recorded with its error.
Exit codes: 0 fine, 1 a regression (unless --no-fail-on-regression), 2 the night failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    root = Path(__file__).resolve().parent.parent
    if (root / "tasks" / "__init__.py").is_file() and str(root) not in sys.path:
        sys.path.insert(0, str(root))

import pandas as pd

from tasks import history, nightly, nightly_report
from tasks.cli import guarded
from tasks.config import load_config
from tasks.environment import describe_environment
from tasks.errors import UserError
from tasks.outputs import open_output
from tasks.plan import make_plan
from tasks.storage import Store
from workflows.run import run_study

MARKER = "nightly.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="nightly", help="shipped config name or a .yaml/.toml path (default: nightly)")
    p.add_argument("--root", default="out/nightly", help="directory or URI holding every night (default: out/nightly)")
    p.add_argument("--date", help="the night to run, YYYY-MM-DD (default: today, UTC)")
    p.add_argument("--tolerance", type=float, default=0.10, help="relative change that can be flagged (default 0.1)")
    p.add_argument(
        "--speed-tolerance",
        type=float,
        default=0.25,
        help="relative change of training throughput that can be flagged (default 0.25)",
    )
    p.add_argument("--window", type=int, default=7, help="nights in the rolling median (default 7)")
    p.add_argument(
        "--no-fail-on-regression",
        dest="fail_on_regression",
        action="store_false",
        help="exit 0 even when a regression is flagged",
    )
    p.add_argument("--address", help="Ray address ('auto' = the running cluster); default: $RAY_ADDRESS or local")
    p.add_argument("--num-cpus", type=int, help="CPUs for a local Ray instance")
    return p.parse_args(argv)


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
    if not root.exists(MARKER):
        if root.exists("") and (root.list_files("") or root.list_dirs("")):
            raise UserError(
                f"{root.display()} already exists and is not a nightly root (no {MARKER}); choose another --root"
            )
        root.write_json(MARKER, {"kind": "multiplication-lab nightly root"})
    return root


@guarded
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    date = night_date(args.date)
    root = open_nightly_root(args.root)
    with history.DateLock(root, date):
        past = history.read_history(root)  # damaged history: a clear error, nothing written
        record, comparison = run_night(args, root, date, past)
        publish(root, date, record, comparison)
    print(
        f"[nightly] {date}: {record['status']}; regressions {record.get('regressions', 0)}, "
        f"improvements {record.get('improvements', 0)}. Index: {root.display('index.html')}"
    )
    if record["status"] == "failed":
        print(f"error: night {date} failed: {record['error']}", file=sys.stderr)
        return 2
    return 1 if record["regressions"] and args.fail_on_regression else 0


def run_night(args: argparse.Namespace, root: Store, date: str, past: pd.DataFrame) -> tuple[dict, pd.DataFrame | None]:
    run_id = f"r-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"
    record: dict[str, Any] = {
        "date": date,
        "run": run_id,
        "config": args.config,
        "tolerance": args.tolerance,
        "started": time.time(),
    }
    try:
        config = load_config(args.config)
        store = open_output(root.child(f"{date}/{run_id}").uri)
        info = run_study(make_plan(config), store, args.address, args.num_cpus)
        metrics = store.read_parquet("results/metrics.parquet").to_pandas()
        models = store.read_parquet("results/models.parquet").to_pandas()
        tonight = nightly.headline_frame(nightly.headlines(metrics, models), date)
        comparison = nightly.compare(tonight, past, args.tolerance, args.window, args.speed_tolerance)
        verdicts = comparison["verdict"].value_counts().to_dict()
        record.update(
            status="ok",
            report=info["report"],
            report_link=f"{date}/{run_id}/report/index.html",
            regressions=int(verdicts.get("regression", 0)),
            improvements=int(verdicts.get("improvement", 0)),
            environment=describe_environment(),
        )
        history.write_history(root, date, tonight.assign(status="ok", error="", run=run_id))  # a good night's last step
        return record, comparison
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        message = " ".join(str(exc).split())[:500] or type(exc).__name__
        record.update(status="failed", error=f"{type(exc).__name__}: {message}", environment=describe_environment())
        if not any((past["date"] == date) & (past["status"] == "ok")):  # keep an earlier good run of this date
            failed = pd.DataFrame(
                [
                    {
                        "date": date,
                        "metric": "__night__",
                        "arch": "all",
                        "value": float("nan"),
                        "ci_low": float("nan"),
                        "ci_high": float("nan"),
                        "n": 0,
                        "better": "",
                        "status": "failed",
                        "error": record["error"],
                        "run": run_id,
                    }
                ]
            )
            history.write_history(root, date, failed)
        return record, None


def publish(root: Store, date: str, record: dict[str, Any], comparison: pd.DataFrame | None) -> None:
    """The night's summary and record (the record last: it marks the night done), then the index."""
    record["finished"] = time.time()
    nights = history.read_nights(root)
    earlier = nights.get(date, {})
    if record["status"] == "failed" and earlier.get("status") == "ok":
        record = {**earlier, "last_attempt": {"status": "failed", "error": record["error"], "run": record["run"]}}
    else:
        root.write_bytes(f"{date}/summary.md", nightly_report.night_summary(date, record, comparison).encode())
    history.write_night(root, date, record)
    if record.get("status") == "ok" and record.get("run"):
        for old in root.list_dirs(date):  # earlier runs of this date are replaced by this one
            if old.startswith("r-") and old != record["run"]:
                root.delete_dir(f"{date}/{old}")
    nights[date] = record
    comparisons = {date: comparison} if comparison is not None else {}
    root.write_bytes("index.html", nightly_report.index_page(history.read_history(root), nights, comparisons).encode())


if __name__ == "__main__":
    sys.exit(main())
