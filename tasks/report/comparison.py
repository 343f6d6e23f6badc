"""One study against another: their headline metrics side by side, each judged like a night
against the previous one (beyond tolerance and beyond seed noise; tasks.report.judgement), the
groups and models only one of them has, as a Markdown and HTML page (pure)."""

from __future__ import annotations

import math

import pandas as pd

from tasks.report.aggregates import Summary
from tasks.report.headlines import throughput
from tasks.report.judgement import tolerance_for, verdict
from tasks.report.page import Section, render_html, render_markdown

MAX_LISTED = 20  # model ids listed per side when the studies' models differ


def headline_table(summary: Summary) -> pd.DataFrame:
    """The study's headline metrics: quality, and throughput where its bundles trained long
    enough to time it (tasks.report.headlines.throughput)."""
    speed = pd.DataFrame([vars(h) for h in throughput(summary.speeds)[0]])
    return pd.concat([summary.headlines, speed], ignore_index=True)


def compare_headlines(
    a: pd.DataFrame, b: pd.DataFrame, tolerance: float, speed_tolerance: float | None = None
) -> pd.DataFrame:
    """Matched by metric and architecture (and range): B judged against A."""
    merged = a.merge(b, on=["metric", "arch"], how="outer", suffixes=("_a", "_b"))
    rows = []
    for r in merged.itertuples(index=False):
        has_a, has_b = not math.isnan(r.value_a), not math.isnan(r.value_b)
        row = {"metric": r.metric, "arch": r.arch}
        row |= {
            "A": r.value_a,
            "A 95%": _ci(r.ci_low_a, r.ci_high_a),
            "B": r.value_b,
            "B 95%": _ci(r.ci_low_b, r.ci_high_b),
        }
        if has_a and has_b:
            better = r.better_a if isinstance(r.better_a, str) else r.better_b
            tol = tolerance_for(r.metric, tolerance, speed_tolerance)
            current, previous = (r.value_b, r.ci_low_b, r.ci_high_b), (r.value_a, r.ci_low_a, r.ci_high_a)
            row["change"] = (r.value_b - r.value_a) / abs(r.value_a) if r.value_a else math.nan
            row["verdict"] = verdict(current, previous, None, tol, better)
        else:
            row["change"], row["verdict"] = math.nan, "only in A" if has_a else "only in B"
        rows.append(row)
    return pd.DataFrame(rows)


def groups_in_one(fit_a: pd.DataFrame, fit_b: pd.DataFrame, labels: tuple[str, str]) -> pd.DataFrame:
    """(architecture, training range) pairs only one study has, with `where` from `labels`.
    The merge indicator is a Categorical: it is read as plain strings (pandas 3 refuses to
    write a value that is not one of its categories)."""
    keys = ["arch_label", "train_range"]
    groups = fit_a[keys].drop_duplicates().merge(fit_b[keys].drop_duplicates(), how="outer", indicator=True)
    where = groups["_merge"].astype(str)
    one = where != "both"
    out = groups.loc[one, keys].reset_index(drop=True)
    out["where"] = where[one].map({"left_only": labels[0], "right_only": labels[1]}).to_numpy()
    return out


def _flagged(table: pd.DataFrame) -> Section:
    flagged = table[table["verdict"].isin(["regression", "improvement"])]
    if not len(flagged):
        return Section("Flagged", ["No change beyond tolerance and seed noise."])
    return Section("Flagged", [], flagged)


def _ci(lo: float, hi: float) -> str:
    return "" if math.isnan(lo) else f"[{lo:.4g}, {hi:.4g}]"


def comparison_pages(
    names: tuple[str, str],
    table: pd.DataFrame,
    fit: tuple[pd.DataFrame, pd.DataFrame],
    models: tuple[set, set],
    tolerance: float,
) -> tuple[str, str]:
    """(summary.md, index.html) of the comparison."""
    a, b = names
    counts = table["verdict"].value_counts().to_dict()
    only = groups_in_one(fit[0], fit[1], (f"only in A ({a})", f"only in B ({b})"))
    only_a, only_b = sorted(models[0] - models[1]), sorted(models[1] - models[0])
    sections = [
        Section(
            "",
            [
                f"A = {a}, B = {b}. Each headline metric of B is judged against A's: a regression or improvement "
                f"only beyond {tolerance:.0%} and beyond seed noise (the two 95% intervals disjoint).",
                f"Regressions: {counts.get('regression', 0)}, improvements: {counts.get('improvement', 0)}, "
                f"unchanged: {counts.get('ok', 0)}; metrics in one study only: "
                f"{counts.get('only in A', 0) + counts.get('only in B', 0)}.",
            ],
        ),
        _flagged(table),
        Section("Headline metrics", [], table),
    ]
    if len(only):
        sections.append(Section("Architectures and ranges in one study only", [], only))
    if only_a or only_b:
        text = [
            f"{len(models[0] & models[1])} models are in both studies; {len(only_a)} only in A, {len(only_b)} only in B"
            f" (up to {MAX_LISTED} listed each)."
        ]
        listing = pd.DataFrame(
            [{"model_id": m, "in": "A"} for m in only_a[:MAX_LISTED]]
            + [{"model_id": m, "in": "B"} for m in only_b[:MAX_LISTED]]
        )
        sections.append(Section("Models in one study only", text, listing))
    title = f"Study comparison — {a} vs {b}"
    return render_markdown(title, sections), render_html(title, sections)
