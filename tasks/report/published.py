"""Published results beside this run's: the papers' numbers (tasks/report/published.csv, one
row per operation, model and range pair, each with its source) matched with this run's
success table.

A row *agrees* when the two 95% intervals overlap and *differs* when they are disjoint; where
the paper gives no number the row says so and names what it did publish. The protocol decides
what runs; this only reports how the outcome compares.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tasks.report.figures import plt, png

PUBLISHED = Path(__file__).with_name("published.csv")
CITATIONS = {
    "madsen2020": "Madsen & Johansen, “Neural Arithmetic Units”, ICLR 2020 "
    "(code: github.com/AndreasMadsen/stable-nalu)",
    "mistry2022": "Mistry, Farrahi & Hare, “A Primer for Neural Arithmetic Logic Modules”, JMLR 2022 "
    "(code: github.com/bmistry4/nalm-benchmark)",
}
MEASURES = (  # (name, published columns, this run's columns)
    ("success", ("success_rate", "success_low", "success_high"), ("success_rate", "ci_low", "ci_high")),
    (
        "solved_at",
        ("solved_at_mean", "solved_at_low", "solved_at_high"),
        ("solved_at_mean", "solved_at_low", "solved_at_high"),
    ),
    (
        "sparsity",
        ("sparsity_error", "sparsity_low", "sparsity_high"),
        ("sparsity_error_mean", "sparsity_error_low", "sparsity_error_high"),
    ),
)


def load_published(paper: str) -> pd.DataFrame:
    table = pd.read_csv(PUBLISHED, dtype={"train_range": str, "eval_range": str})
    return table[table["paper"] == paper].reset_index(drop=True)


def verdict(published: tuple[float, float], run: tuple[float, float]) -> str:
    if any(np.isnan(v) for v in (*published, *run)):
        return ""
    return "differs" if published[1] < run[0] or run[1] < published[0] else "agrees"


def comparison(successes: pd.DataFrame, keys: dict[str, str], paper: str) -> pd.DataFrame:
    """One row per model (and operation) and extrapolation range pair of this run."""
    published = load_published(paper)
    exact = {(r.operation, r.model, r.train_range, r.eval_range): r for r in published.itertuples(index=False)}
    general = next((r for r in published.itertuples(index=False) if r.model == "*"), None)
    rows = []
    for s in successes[successes["eval_range"] != successes["train_range"]].itertuples(index=False):
        key = keys.get(s.arch_label, s.arch_label)
        p = exact.get((getattr(s, "operation", "mul"), key, s.train_range, s.eval_range))
        row = {"model": s.arch_label, "range pair": f"{s.train_range} → {s.eval_range}", "seeds": s.seeds}
        for name, pub_cols, run_cols in MEASURES:
            run = tuple(float(getattr(s, c)) for c in run_cols)
            pub = tuple(float(getattr(p, c)) for c in pub_cols) if p is not None else (np.nan,) * 3
            row[f"published {name}"] = pub[0]
            row[f"published {name} 95%"] = _interval(pub)
            row[f"run {name}"] = run[0]
            row[f"run {name} 95%"] = _interval(run)
            row[f"{name} verdict"] = verdict(pub[1:], run[1:])
        row["verdict"] = row.pop("success verdict") or "not published"
        row["source"] = p.source if p is not None else (general.source if general is not None else "")
        rows.append(row)
    return pd.DataFrame(rows)


def _interval(v: tuple[float, float, float]) -> str:
    return "" if np.isnan(v[1]) else f"[{v[1]:.3g}, {v[2]:.3g}]"


def comparison_figure(table: pd.DataFrame) -> bytes | None:
    """Published and this run's success rate with their intervals, for pairs with a number."""
    shown = table[table["verdict"] != "not published"]
    if not len(shown):
        return None
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(shown) + 2), 4.2))
    x = np.arange(len(shown))
    for offset, who, marker in ((-0.12, "published", "s"), (0.12, "run", "o")):
        rate = shown[f"{who} success"].to_numpy(float)
        bounds = shown[f"{who} success 95%"].str.strip("[]").str.split(", ", expand=True).astype(float).to_numpy()
        err = np.nan_to_num(np.clip(np.vstack([rate - bounds[:, 0], bounds[:, 1] - rate]), 0, None))
        label = "published" if who == "published" else "this run"
        ax.errorbar(x + offset, rate, yerr=err, fmt=marker, capsize=3, label=label)
    ax.set_xticks(x, [f"{m}\n{p}" for m, p in zip(shown["model"], shown["range pair"])], fontsize=7)
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("success rate (95% interval)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Published success rates beside this run's", fontsize=10)
    return png(fig)
