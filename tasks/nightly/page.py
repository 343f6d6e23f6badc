"""The nightly index page (ROOT/index.html) and a night's summary.md: trends of the headline
metrics over the nights (gaps for missing nights, failed nights marked), the latest flags,
and the list of nights with links. Pure: tables in, bytes out."""

from __future__ import annotations

import base64
import html

import matplotlib.dates as mdates
import pandas as pd

from tasks.report.figures import plt, png, sns
from tasks.report.tables import html_table, to_markdown
from tasks.store.catalog import NightRecord

METRIC_TITLES = {
    "in_range_rmse": "In-range RMSE per architecture and training range (median over seeds, 95% CI)",
    "in_range_nrmse": "In-range normalised RMSE (median over models, 95% CI)",
    "nrmse_at_coverage_0.25": "Normalised RMSE at coverage 0.25",
    "nrmse_at_coverage_0.01": "Normalised RMSE at coverage 0.01",
    "success_rate": "Success rate per training → evaluation range (share of seeds, Wilson 95% CI)",
    "train_model_steps_per_s": "Training throughput (model-steps/s)",
}


def date_limits(dates: list[str], min_days: int = 3) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The x range of a trend: every night, and at least `min_days` wide around them, so a
    single night sits in a sensible window rather than a multi-year default axis."""
    stamps = sorted(pd.Timestamp(d) for d in dates)
    lo, hi = stamps[0], stamps[-1]
    pad = max(pd.Timedelta(days=0.5), (pd.Timedelta(days=min_days) - (hi - lo)) / 2)
    return lo - pad, hi + pad


def trend_figure(history: pd.DataFrame, nights: dict[str, NightRecord], metric: str) -> bytes:
    """One metric over the calendar, one panel per architecture ("arch @ …" labels are split
    there), a line per series with its CI band; a missing night is a gap, a failed night a
    red mark."""
    ok = history[(history["status"] == "ok") & (history["metric"] == metric)].copy()
    ok["panel"] = ok["arch"].str.split(" @ ").str[0]
    ok["series"] = ok["arch"].str.split(" @ ").str[1].fillna(ok["arch"])
    dates = pd.date_range(min(nights), max(nights), freq="D") if nights else pd.DatetimeIndex([])
    panels = sorted(ok["panel"].unique()) or [""]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 2.6 * len(panels) + 0.8), squeeze=False, sharex=True)
    for ax, panel in zip(axes[:, 0], panels):
        rows = ok[ok["panel"] == panel]
        palette = sns.color_palette("tab10", max(1, rows["series"].nunique()))
        for colour, (series, g) in zip(palette, rows.groupby("series", sort=True)):
            g = g.assign(day=pd.to_datetime(g["date"])).set_index("day").reindex(dates)  # gaps stay NaN
            ax.plot(g.index, g["value"], marker="o", ms=4, color=colour, label=series)
            ax.fill_between(g.index, g["ci_low"].astype(float), g["ci_high"].astype(float), color=colour, alpha=0.15)
        _mark_failed(ax, nights)
        positive = rows["value"][rows["value"] > 0]
        if metric != "success_rate" and len(positive):
            ax.set_yscale("symlog", linthresh=float(positive.min()))  # errors span decades; exact zeros stay visible
        ax.set_title(panel, fontsize=8, loc="left")
        if len(rows):
            ax.legend(fontsize=6, loc="best")
    ax = axes[-1, 0]
    if nights:
        ax.set_xlim(*date_limits(list(nights)))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=10))
    fig.suptitle(METRIC_TITLES.get(metric, metric), fontsize=10)
    fig.autofmt_xdate()
    return png(fig)


def _mark_failed(ax, nights: dict[str, NightRecord]) -> None:
    for date, record in nights.items():
        if record.status == "failed":
            ax.axvline(pd.Timestamp(date), color="tab:red", ls=":", lw=1.2)
            ax.annotate(
                "failed",
                (pd.Timestamp(date), 1),
                xycoords=("data", "axes fraction"),
                color="tab:red",
                fontsize=7,
                ha="center",
                va="bottom",
            )


def flags_table(comparison: pd.DataFrame) -> pd.DataFrame:
    cols = [
        "metric",
        "arch",
        "verdict",
        "value",
        "prev_date",
        "prev_value",
        "change_vs_prev",
        "rolling_median",
        "change_vs_median",
        "ci_low",
        "ci_high",
    ]
    return comparison[cols] if len(comparison) else pd.DataFrame(columns=cols)


def night_summary(record: NightRecord, comparison: pd.DataFrame | None) -> str:
    status = record.outcome or record.status
    parts = [f"# Nightly report — {record.date}", "", f"Status: **{status}** (exit code {record.exit_code})"]
    if record.error:
        parts += ["", f"Error: `{record.error}`"]
    if record.config_changed:
        parts += [
            "",
            f"Config changed since the previous night: {record.config_changed}. Tonight is not judged "
            "(a changed config explains any change); the next night is judged against this one.",
        ]
    parts += [line for note in record.notes for line in ("", note[:1].upper() + note[1:] + ".")]
    if comparison is not None and len(comparison):
        counts = comparison["verdict"].value_counts().to_dict()
        parts += [
            "",
            f"Regressions: {counts.get('regression', 0)}, improvements: {counts.get('improvement', 0)} "
            f"(tolerance {record.tolerance:.0%}, beyond seed noise: non-overlapping 95% intervals).",
            "",
        ]
        flagged = comparison[comparison["verdict"].isin(["regression", "improvement"])]
        if len(flagged):
            parts += ["## Flagged", "", to_markdown(flags_table(flagged)), ""]
        parts += ["## All headline metrics", "", to_markdown(flags_table(comparison)), ""]
    if record.report:
        parts += [f"Full report: {record.report}", ""]
    parts += ["## Environment", "", "```", *(f"{k}: {v}" for k, v in record.environment.items()), "```", ""]
    return "\n".join(parts)


def index_page(history: pd.DataFrame, nights: dict[str, NightRecord], comparisons: dict[str, pd.DataFrame]) -> str:
    metrics = [m for m in METRIC_TITLES if (history["metric"] == m).any()]
    figures = "\n".join(
        f'<figure><img alt="{html.escape(METRIC_TITLES[m])}" src="data:image/png;base64,'
        f'{base64.b64encode(trend_figure(history, nights, m)).decode()}"></figure>'
        for m in metrics
    )
    latest = max(nights) if nights else None
    head = "<p>No nights yet.</p>"
    if latest:
        rec = nights[latest]
        link = f' — <a href="{html.escape(rec.report_link)}">report</a>' if rec.report_link else ""
        head = f"<p>Latest night: <b>{latest}</b>, status <b>{html.escape(rec.outcome or rec.status)}</b>{link}</p>"
        if rec.error:
            head += f"<p class=err>{html.escape(rec.error)}</p>"
        comp = comparisons.get(latest)
        if comp is not None and len(comp):
            flagged = comp[comp["verdict"].isin(["regression", "improvement"])]
            head += "<h2>Flags for the latest night</h2>" + (
                html_table(flags_table(flagged))
                if len(flagged)
                else "<p>No change beyond tolerance and seed noise.</p>"
            )
    rows = []
    for date in sorted(nights, reverse=True):
        rec = nights[date]
        link = f'<a href="{html.escape(rec.report_link)}">report</a>' if rec.report_link else ""
        ok = rec.status == "ok"
        rows.append(
            f"<tr><td>{date}</td><td class={'failed' if rec.exit_code else html.escape(rec.status)}>"
            f"{html.escape(rec.outcome or rec.status)}"
            f"</td><td>{rec.regressions if ok else ''}</td><td>{rec.improvements if ok else ''}</td><td>{link}</td>"
            f"<td>{html.escape(rec.error)}</td></tr>"
        )
    table = (
        "<table class=t><tr><th>date</th><th>status</th><th>regressions</th><th>improvements</th>"
        "<th>report</th><th>error</th></tr>" + "".join(rows) + "</table>"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Nightly multiplication-extrapolation reports</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}
img{{max-width:100%}} .wide{{overflow-x:auto}} .err,.failed{{color:#b00}} .ok{{color:#070}}
table.t{{border-collapse:collapse;font-size:.85em}} .t td,.t th{{padding:.25em .6em;border-bottom:1px solid #ddd}}
</style></head><body>
<h1>Nightly multiplication-extrapolation reports</h1>
{head}
<h2>Trends</h2>
{figures}
<h2>Nights</h2>
{table}
</body></html>
"""
