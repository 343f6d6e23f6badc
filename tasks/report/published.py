"""Published results beside this run's: the papers' numbers (tasks/report/published.csv, rebuilt
from the papers' own files by tasks/report/published_sources.py, each row citing its file and
commit) matched with this run's success table, every pair with a verdict from a stated test
(tasks/evaluation/significance.py):

    success rate          Fisher's exact test of the run's k/n against the published k/n
    solved at, sparsity   the difference of the two estimates with its 95% interval (MOVER);
                          a value read from a figure has its interval widened by its resolution

Each verdict is consistent, differs (which way, with its p-value) or underpowered (with the
seeds at which a 20-point / 20% difference would be seen at 80% power). Where a pair has two
published sources (the paper's 100-seed table and its 50-seed figure) both are shown. Holm's
step-down procedure over every test in the table says which differences survive the multiple
comparisons. Where the paper gives no number the row says so and names what it did publish.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tasks.evaluation.significance import ALPHA, Verdict, compare_estimates, compare_rates, holm
from tasks.report.figures import plt, png

PUBLISHED = Path(__file__).with_name("published.csv")
CITATIONS = {
    "madsen2020": "Madsen & Johansen, “Neural Arithmetic Units”, ICLR 2020 "
    "(code: github.com/AndreasMadsen/stable-nalu)",
    "mistry2022": "Mistry, Farrahi & Hare, “A Primer for Neural Arithmetic Logic Modules”, JMLR 2022 "
    "(code: github.com/bmistry4/nalm-benchmark)",
}
ESTIMATES = (  # (name, published columns, this run's columns, resolution column)
    (
        "solved at",
        ("solved_at_mean", "solved_at_low", "solved_at_high"),
        ("solved_at_mean", "solved_at_low", "solved_at_high"),
        "resolution_solved_at",
    ),
    (
        "sparsity",
        ("sparsity_error", "sparsity_low", "sparsity_high"),
        ("sparsity_error_mean", "sparsity_error_low", "sparsity_error_high"),
        "resolution_sparsity",
    ),
)


def load_published(paper: str) -> pd.DataFrame:
    table = pd.read_csv(PUBLISHED, dtype={"train_range": str, "eval_range": str})
    return table[table["paper"] == paper].reset_index(drop=True)


@dataclass
class Comparison:
    rows: pd.DataFrame  # numbers and Verdicts, one row per run row × published source
    table: pd.DataFrame  # the same for reading
    note: str  # the multiple-comparison step


def compare(successes: pd.DataFrame, keys: dict[str, str], paper: str, operation: str = "mul") -> Comparison:
    """This run's extrapolation rows against every published row of the same model, range pair
    and operation (each row's own, in a study of several operations; else `operation`)."""
    published = load_published(paper)
    general = published[published["model"] == "*"]
    rows = []
    for s in successes[successes["eval_range"] != successes["train_range"]].itertuples(index=False):
        key = keys.get(s.arch_label, s.arch_label)
        op = getattr(s, "operation", None) or operation
        same = published[
            (published["operation"] == op)
            & (published["model"] == key)
            & (published["train_range"] == s.train_range)
            & (published["eval_range"] == s.eval_range)
        ]
        base = {"model": s.arch_label, "range pair": f"{s.train_range} → {s.eval_range}", "run": s}
        if not len(same):
            note = general["source"].iloc[0] if len(general) else "no published number for this pair"
            rows.append(base | {"published": None, "source": note})
        for p in same.itertuples(index=False):
            rows.append(base | {"published": p, "source": p.source} | _verdicts(s, p))
    frame = pd.DataFrame(rows)
    note = _holm(frame)
    return Comparison(frame, _table(frame), note)


def _published_estimate(p, columns: tuple[str, str, str], resolution: str) -> tuple[float, float, float]:
    value, lo, hi = (float(getattr(p, c)) for c in columns)
    widen = getattr(p, resolution)
    widen = 0.0 if pd.isna(widen) else float(widen)  # read from a figure: its resolution either side
    return value, lo - widen, hi + widen


def _verdicts(s, p) -> dict[str, Verdict]:
    out = {"success": compare_rates(int(s.successes), int(s.seeds), int(p.successes), int(p.seeds))}
    for name, pub_cols, run_cols, resolution in ESTIMATES:
        run = tuple(float(getattr(s, c)) for c in run_cols)
        if np.isnan(run[0]) and np.isnan(float(getattr(p, pub_cols[0]))):
            continue  # neither side solved: nothing to compare
        out[name] = compare_estimates(run, int(s.successes), _published_estimate(p, pub_cols, resolution))
    return out


MEASURES = ("success", *(e[0] for e in ESTIMATES))


def _holm(frame: pd.DataFrame) -> str:
    """Marks the tests Holm's procedure rejects (column 'holm') and says how many."""
    tests = [
        (i, name)
        for i, r in enumerate(frame.to_dict("records"))
        for name in MEASURES
        if isinstance(r.get(name), Verdict) and np.isfinite(r[name].p_value)
    ]
    verdicts = [frame.iloc[i][name] for i, name in tests]
    rejected = holm([v.p_value for v in verdicts])
    frame["holm"] = [[name for (j, name), r in zip(tests, rejected) if j == i and r] for i in range(len(frame))]
    differ = sum(v.label == "differs" for v in verdicts)
    return (
        f"Multiple comparisons: {len(tests)} tests in this table; {differ} differ at α = {ALPHA:g} on their own, "
        f"{sum(rejected)} after Holm's step-down correction over all {len(tests)} (column 'Holm')."
    )


def _estimate(e: tuple[float, float, float], fmt: str = ".3g") -> str:
    if np.isnan(e[0]):
        return "–"
    return f"{e[0]:{fmt}}" + ("" if np.isnan(e[1]) else f" [{e[1]:{fmt}}, {e[2]:{fmt}}]")


def _source_label(p) -> str:
    if p is None:
        return "not published"
    how = "table" if p.reading == "exact" else "figure"
    return f"{how}, {int(p.seeds)} seeds"


def _table(frame: pd.DataFrame) -> pd.DataFrame:
    out = []
    for r in frame.to_dict("records"):
        s, p = r["run"], r["published"]
        p = None if p is None or (isinstance(p, float) and np.isnan(p)) else p
        row = {
            "model": r["model"],
            "range pair": r["range pair"],
            "published": _source_label(p),
            "run success": f"{int(s.successes)}/{int(s.seeds)} [{s.ci_low:.2f}, {s.ci_high:.2f}]",
            "published success": "–"
            if p is None
            else f"{int(p.successes)}/{int(p.seeds)} [{p.success_low:.2f}, {p.success_high:.2f}]",
            "success verdict": "not published" if p is None else r["success"].describe(),
        }
        for name, pub_cols, run_cols, _ in ESTIMATES:
            row[f"run {name}"] = _estimate(tuple(float(getattr(s, c)) for c in run_cols))
            pub = (np.nan,) * 3 if p is None else tuple(float(getattr(p, c)) for c in pub_cols)
            row[f"published {name}"] = _estimate(pub)
            verdict = r.get(name)
            row[f"{name} verdict"] = verdict.describe() if isinstance(verdict, Verdict) else ""
        row["Holm"] = ", ".join(r["holm"]) + " differ" if r["holm"] else ""
        row["source"] = r["source"]
        out.append(row)
    return pd.DataFrame(out)


VERDICT_COLOURS = {"consistent": "tab:green", "differs": "tab:red", "underpowered": "tab:gray"}


def comparison_figure(comparison: Comparison) -> bytes | None:
    """Published and this run's success rate, solved-at and sparsity with their intervals for
    every pair with a published number; the run's marker coloured by its test's verdict."""
    frame = comparison.rows[comparison.rows["published"].notna()].reset_index(drop=True)
    if not len(frame):
        return None
    panels = (
        (
            "success",
            "success rate",
            ("success_rate", "ci_low", "ci_high"),
            ("success_rate", "success_low", "success_high"),
        ),
        *((name, name, run_cols, pub_cols) for name, pub_cols, run_cols, _ in ESTIMATES),
    )
    fig, axes = plt.subplots(3, 1, figsize=(max(7.0, 0.42 * len(frame) + 2), 9.5), sharex=True)
    x = np.arange(len(frame))
    for ax, (name, label, run_cols, pub_cols) in zip(axes, panels):
        for offset, who, cols in ((-0.15, "run", run_cols), (0.15, "published", pub_cols)):
            source = frame["run"] if who == "run" else frame["published"]
            values = np.array([[float(getattr(v, c)) for c in cols] for v in source])
            err = np.nan_to_num(np.clip(np.vstack([values[:, 0] - values[:, 1], values[:, 2] - values[:, 0]]), 0, None))
            if who == "run":
                verdicts = [v.label if isinstance(v, Verdict) else "" for v in frame.get(name, [None] * len(frame))]
                for label_, colour in VERDICT_COLOURS.items():
                    pick = np.array([v == label_ for v in verdicts])
                    if pick.any():
                        ax.errorbar(
                            x[pick] + offset,
                            values[pick, 0],
                            yerr=err[:, pick],
                            fmt="o",
                            color=colour,
                            capsize=2,
                            ms=4,
                            label=f"this run: {label_}",
                        )
            else:
                marker = ["s" if p.reading == "exact" else "^" for p in source]
                for m, what in (("s", "published (table)"), ("^", "published (figure)")):
                    pick = np.array([mm == m for mm in marker])
                    if pick.any():
                        ax.errorbar(
                            x[pick] + offset,
                            values[pick, 0],
                            yerr=err[:, pick],
                            fmt=m,
                            color="black",
                            capsize=2,
                            ms=4,
                            mfc="white",
                            label=what,
                        )
        shown = [v for line in ax.get_lines() for v in line.get_ydata() if np.isfinite(v) and v > 0]
        if name != "success" and shown and max(shown) > 10 * min(shown):
            ax.set_yscale("log")  # steps from 10³ to 10⁶, errors from 10⁻⁷ to 10⁻³
        ax.set_ylabel(label, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=6, loc="best")
    axes[-1].set_xticks(
        x, [f"{m}\n{p}" for m, p in zip(frame["model"], frame["range pair"])], rotation=60, ha="right", fontsize=6
    )
    fig.suptitle(
        "Published results beside this run's, the run coloured by its test's verdict (95% intervals)", fontsize=10
    )
    return png(fig)
