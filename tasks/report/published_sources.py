"""tasks/report/published.csv, rebuilt from the papers' own files (tasks/report/sources/):

    stable-nalu paper/results/sft-short.csv @f371c1ec
        the static arithmetic-dataset task (U[1,2] → U[2,6], 100 seeds), every operation, at
        full precision: the rows of every model this lab can build (Linear, ReLU, NAC+, NAC•,
        NALU, NAU, NMU; not ReLU6, NAC•,σ, NAC•,NMU)
    stable-nalu paper/results/simple_function_static_mul_range.pdf @da2e740b
        the multiplication range sweep (7 range pairs, 50 seeds), published as a figure only:
        success rate, solved-at and sparsity error of NMU, NAC• and NALU with their intervals,
        read from the figure's drawing commands (tasks/report/pdf_figure.py), each value to
        the figure's resolution (one printing step of 0.01 pt, in data units; stated per row)

    python -m tasks.report.published_sources            # rewrite published.csv
    python -m tasks.report.published_sources --check    # exit 1 if it differs from the sources

Numbers only from published sources; each row cites its file and commit.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from tasks.evaluation.intervals import wilson_interval
from tasks.report.pdf_figure import read_figure

SOURCES = Path(__file__).with_name("sources") / "stable-nalu"
PUBLISHED = Path(__file__).with_name("published.csv")
STATIC_TABLE = SOURCES / "sft-short.csv"
RANGE_FIGURE = SOURCES / "simple_function_static_mul_range.pdf"
STATIC_SOURCE = (
    "stable-nalu paper/results/sft-short.csv @f371c1ec (arithmetic dataset task, 100 seeds, 5·10⁶ iterations; "
    "summarised by export/_compute_summary.r @f371c1ec)"
)
FIGURE_SOURCE = (
    "stable-nalu paper/results/simple_function_static_mul_range.pdf @da2e740b, read from figure by "
    "tasks/report/published_sources.py (runs lfs_batch_jobs/function_task_static_mul_range.sh: seeds 0–24 "
    "@5f0d4e4 and 25–49 @28480086, 5·10⁶ iterations; summarised by export/_compute_summary.r @f371c1ec)"
)
PRIMER_ROW = {
    "paper": "mistry2022",
    "model": "*",
    "operation": "mul",
    "train_range": "*",
    "eval_range": "*",
    "seeds": 25,
    "reading": "not published",
    "source": "the Primer's single-module multiplication results are published as figures only (Fig. 16; "
    "bmistry4/nalm-benchmark export/single_layer_task/benchmark/plot_results.r, no results table stored): "
    "no numbers to compare",
}
MODELS = {  # sft-short.csv's model → how this lab names the stack (the second layer linear for ReLU)
    "Linear": "linear→linear",
    "ReLU": "relu→linear",
    "$\\mathrm{NAC}_{+}$": "nac_add→nac_add",
    "$\\mathrm{NAC}_{\\bullet}$": "nac_add→nac_mul",
    "NALU": "nalu→nalu",
    "NAU": "nau→nau",
    "NMU": "nau→nmu",
}
OPERATIONS = {  # stable-nalu's op-* names, as this lab's operation registry names them
    "$\\bm{+}$": "add",
    "$\\bm{-}$": "sub",
    "$\\bm{\\times}$": "mul",
    "$\\bm{\\mathbin{/}}$": "div",
    "$z^2$": "square",  # stable-nalu: squared
    "$\\sqrt{z}$": "root",
}
STATIC_SEEDS = 100
FIGURE_MODELS = {"NMU": "nau→nmu", "NAC•": "nac_add→nac_mul", "NALU": "nalu→nalu"}
FIGURE_SEEDS = 50  # the sweep's seeds; the figure's intervals show how many of them each point has
# the sweep's pairs (function_task_static_mul_range.sh): the figure labels the interpolation range only
EXTRAPOLATION = {
    "U[-2,-1]": ("[-2,-1]", "[-6,-2]"),
    "U[-2,2]": ("[-2,2]", "[-6,-2]∪[2,6]"),
    "U[0,1]": ("[0,1]", "[1,5]"),
    "U[0.1,0.2]": ("[0.1,0.2]", "[0.2,2]"),
    "U[1,2]": ("[1,2]", "[2,6]"),
    "U[1.1,1.2]": ("[1.1,1.2]", "[1.2,6]"),
    "U[10,20]": ("[10,20]", "[20,40]"),
}
PANELS = {"Success rate": "success", "Solved at iteration step": "solved_at", "Sparsity error": "sparsity"}
COLUMNS = [
    "paper",
    "model",
    "operation",
    "train_range",
    "eval_range",
    "seeds",
    "successes",
    "success_rate",
    "success_low",
    "success_high",
    "solved_at_median",
    "solved_at_mean",
    "solved_at_low",
    "solved_at_high",
    "sparsity_error",
    "sparsity_low",
    "sparsity_high",
    "reading",
    "resolution_success",
    "resolution_solved_at",
    "resolution_sparsity",
    "source",
]


def static_rows(table: pd.DataFrame) -> pd.DataFrame:
    """sft-short.csv's rows for the models this lab builds, its numbers unchanged."""
    t = table[table["model"].isin(MODELS)]
    return pd.DataFrame(
        {
            "paper": "madsen2020",
            "model": t["model"].map(MODELS),
            "operation": t["operation"].map(OPERATIONS),
            "train_range": "[1,2]",
            "eval_range": "[2,6]",
            "seeds": STATIC_SEEDS,
            "successes": (t["success.rate.mean"] * STATIC_SEEDS).round().astype(int),
            "success_rate": t["success.rate.mean"],
            "success_low": t["success.rate.lower"],
            "success_high": t["success.rate.upper"],
            "solved_at_median": t["converged.at.median"],
            "solved_at_mean": t["converged.at.mean"],
            "solved_at_low": t["converged.at.lower"],
            "solved_at_high": t["converged.at.upper"],
            "sparsity_error": t["sparse.error.mean"],
            "sparsity_low": t["sparse.error.lower"],
            "sparsity_high": t["sparse.error.upper"],
            "reading": "exact",
            "source": STATIC_SOURCE,
        }
    )


def _to_resolution(value: float, resolution: float) -> float:
    """A read value rounded to the decimal place its resolution allows."""
    return round(value, -math.floor(math.log10(resolution))) if np.isfinite(value) else value


def seeds_and_successes(rate: float, low: float, high: float, resolution: float) -> tuple[int, int]:
    """(n, k): the one count of seeds up to FIGURE_SEEDS whose k/n and Wilson interval all lie
    within the resolution of the drawn point and error bar (the interval's width fixes n)."""
    fits = []
    for n in range(1, FIGURE_SEEDS + 1):
        k = round(rate * n)
        lo, hi = wilson_interval(k, n)
        if max(abs(k / n - rate), abs(lo - low), abs(hi - high)) <= resolution:
            fits.append((n, k))
    if len(fits) != 1:
        raise ValueError(f"success {rate:.4f} [{low:.4f}, {high:.4f}]: {len(fits)} seed counts fit the figure")
    return fits[0]


def figure_rows(pdf: bytes) -> pd.DataFrame:
    """The range sweep's rows read from its figure: k of n seeds from the success panel (n is
    50 but where a run is missing), the rest as read, to the figure's resolution."""
    read = read_figure(pdf)
    read = read[read["series"].isin(FIGURE_MODELS)].assign(measure=lambda d: d["panel"].map(PANELS))
    rows = []
    for (series, category), g in read.groupby(["series", "category"], sort=False):
        at = {m: r for m, r in zip(g["measure"], g.itertuples(index=False))}
        s = at["success"]
        n, k = seeds_and_successes(s.value, s.low, s.high, s.resolution)
        row = {
            "paper": "madsen2020",
            "model": FIGURE_MODELS[series],
            "operation": "mul",
            "train_range": EXTRAPOLATION[category][0],
            "eval_range": EXTRAPOLATION[category][1],
            "seeds": n,
            "successes": k,
            "success_rate": k / n,
            "reading": "read from figure",
            "source": FIGURE_SOURCE,
        }
        for measure, (mean, low, high) in {
            "success": ("success_rate", "success_low", "success_high"),
            "solved_at": ("solved_at_mean", "solved_at_low", "solved_at_high"),
            "sparsity": ("sparsity_error", "sparsity_low", "sparsity_high"),
        }.items():
            r = at.get(measure)
            res = read[read["measure"] == measure]["resolution"].iloc[0]
            row[f"resolution_{measure}"] = float(f"{res:.3g}")
            values = (r.value, r.low, r.high) if r is not None else (np.nan,) * 3
            for column, v in zip((mean, low, high), values):
                if column != "success_rate":
                    row[column] = _to_resolution(v, res)
        rows.append(row)
    return pd.DataFrame(rows)


def published_table(sources: Path = SOURCES) -> pd.DataFrame:
    """Every row of published.csv, from the source files."""
    static = static_rows(pd.read_csv(sources / STATIC_TABLE.name))
    figure = figure_rows((sources / RANGE_FIGURE.name).read_bytes())
    table = pd.concat([static, figure, pd.DataFrame([PRIMER_ROW])], ignore_index=True)
    return table.reindex(columns=COLUMNS).astype({"successes": "Int64"})


def to_csv(table: pd.DataFrame) -> str:
    buf = io.StringIO()
    table.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with published.csv instead of writing it")
    args = parser.parse_args(argv)
    text = to_csv(published_table())
    if args.check:
        same = PUBLISHED.read_text() == text
        print("published.csv matches its sources" if same else "published.csv differs from its sources")
        return 0 if same else 1
    PUBLISHED.write_text(text)
    print(f"wrote {PUBLISHED}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
