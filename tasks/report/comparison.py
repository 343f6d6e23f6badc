"""One study against another: their headline metrics side by side, each tested like a night
against the previous one (a stated test per headline, Holm across them all, the tolerance as
the change that matters; tasks.report.judgement), the groups and models only one of them has,
as a Markdown and HTML page (pure)."""

from __future__ import annotations

import math

import pandas as pd

from tasks.report.aggregates import Summary
from tasks.report.headlines import throughput
from tasks.report.judgement import Pair, Side, describe_rule, judge, sample_of
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
    """Matched by metric and architecture (and range): B judged against A, every matched
    headline in one family. A study collected before headlines kept their per-seed values
    (no `sample` column) leaves its medians not comparable."""
    a, b = (side if "sample" in side else side.assign(sample=None) for side in (a, b))
    merged = a.merge(b, on=["metric", "arch"], how="outer", suffixes=("_a", "_b"))
    rows, pairs = [], {}
    for i, r in enumerate(merged.to_dict("records")):
        has_a, has_b = not math.isnan(r["value_a"]), not math.isnan(r["value_b"])
        row = {"metric": r["metric"], "arch": r["arch"]}
        row |= {"A": r["value_a"], "A 95%": _ci(r["ci_low_a"], r["ci_high_a"]), "n A": r["n_a"]}
        row |= {"B": r["value_b"], "B 95%": _ci(r["ci_low_b"], r["ci_high_b"]), "n B": r["n_b"]}
        row |= {"change": math.nan, "test": "", "p_value": math.nan, "p_holm": math.nan, "power": math.nan}
        row |= {"verdict": "only in A" if has_a else "only in B", "note": ""}
        if has_a and has_b:
            better = r["better_a"] if isinstance(r["better_a"], str) else r["better_b"]
            pairs[i] = Pair(r["metric"], better, _side(r, "a"), _side(r, "b"))
        rows.append(row)
    for i, judged in zip(pairs, judge(list(pairs.values()), tolerance, speed_tolerance)):
        rows[i] |= judged.columns() | {"change": judged.change}  # success rates: in rate points
    return pd.DataFrame(rows)


def _side(row: dict, suffix: str) -> Side:
    return Side(float(row[f"value_{suffix}"]), int(row[f"n_{suffix}"]), sample_of(row[f"sample_{suffix}"]))


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
        return Section("Flagged", ["No significant change beyond the tolerance."])
    return Section("Flagged", [], flagged)


def _ci(lo: float, hi: float) -> str:
    return "" if math.isnan(lo) else f"[{lo:.4g}, {hi:.4g}]"


def comparison_pages(
    names: tuple[str, str],
    table: pd.DataFrame,
    fit: tuple[pd.DataFrame, pd.DataFrame],
    models: tuple[set, set],
    tolerance: float,
    speed_tolerance: float | None = None,
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
                f"A = {a}, B = {b}. Each headline metric of B is tested against A's. "
                + describe_rule(tolerance, speed_tolerance, int(table["p_holm"].notna().sum())),
                f"Regressions: {counts.get('regression', 0)}, improvements: {counts.get('improvement', 0)}, "
                f"no change: {counts.get('no change', 0)}, underpowered: {counts.get('underpowered', 0)}, "
                f"not comparable: {counts.get('not comparable', 0)}; metrics in one study only: "
                f"{counts.get('only in A', 0) + counts.get('only in B', 0)}. Success rates' change is in rate points, "
                "the others' relative; p is each test's own, p_holm Holm-adjusted over the family.",
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
