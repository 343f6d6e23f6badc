"""Every published number, exact: published.csv is what its committed sources give (the paper's
summary file, to the bit; its range-sweep figure, read from the PDF's drawing commands by the
committed reader, to the figure's resolution)."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pytest

from tasks.evaluation.intervals import wilson_interval
from tasks.report.pdf_figure import read_figure
from tasks.report.published_sources import (
    MODELS,
    OPERATIONS,
    PUBLISHED,
    RANGE_FIGURE,
    STATIC_TABLE,
    main,
    published_table,
    to_csv,
)


@pytest.fixture(scope="module")
def published() -> pd.DataFrame:
    return pd.read_csv(PUBLISHED, dtype={"train_range": str, "eval_range": str})


def test_the_committed_csv_is_what_the_committed_sources_give(capsys):
    assert to_csv(published_table()) == PUBLISHED.read_text()
    assert main(["--check"]) == 0 and "matches" in capsys.readouterr().out


def test_static_rows_are_the_papers_summary_file_to_the_bit(published):
    source = pd.read_csv(STATIC_TABLE)
    static = published[published["reading"] == "exact"]
    assert len(static) == len(MODELS) * len(OPERATIONS) == 42
    columns = {
        "success_rate": "success.rate.mean",
        "success_low": "success.rate.lower",
        "success_high": "success.rate.upper",
        "solved_at_median": "converged.at.median",
        "solved_at_mean": "converged.at.mean",
        "solved_at_low": "converged.at.lower",
        "solved_at_high": "converged.at.upper",
        "sparsity_error": "sparse.error.mean",
        "sparsity_low": "sparse.error.lower",
        "sparsity_high": "sparse.error.upper",
    }
    names = {v: k for k, v in MODELS.items()}
    ops = {v: k for k, v in OPERATIONS.items()}
    for row in static.to_dict("records"):
        theirs = source[(source["model"] == names[row["model"]]) & (source["operation"] == ops[row["operation"]])]
        assert len(theirs) == 1 and "sft-short.csv @f371c1ec" in row["source"]
        for ours, col in columns.items():
            a, b = row[ours], float(theirs[col].iloc[0])
            assert (np.isnan(a) and np.isnan(b)) or a == b, (row["model"], row["operation"], ours)
        assert row["successes"] == round(row["success_rate"] * 100) and row["seeds"] == 100
    nmu = static[(static["model"] == "nau→nmu") & (static["operation"] == "mul")].iloc[0]
    assert (nmu["solved_at_mean"], nmu["solved_at_median"]) == (1520970.3448828245, 1434500.0)  # not 1.5e6, 1.4e6


def test_figure_rows_cover_the_sweep_with_their_resolution(published):
    figure = published[published["reading"] == "read from figure"]
    assert len(figure) == 21 and set(figure["model"]) == {"nau→nmu", "nac_add→nac_mul", "nalu→nalu"}
    assert figure.groupby("model").size().tolist() == [7, 7, 7]
    assert (figure["resolution_success"] > 0).all() and (figure["resolution_solved_at"] > 0).all()
    assert figure["source"].str.contains("simple_function_static_mul_range.pdf @da2e740b").all()
    for row in figure.to_dict("records"):  # k of n seeds: the figure's interval is Wilson's for exactly that n
        lo, hi = wilson_interval(row["successes"], row["seeds"])
        tolerance = 1.5 * row["resolution_success"]  # one printing step, and the CSV's rounding to it
        assert abs(lo - row["success_low"]) <= tolerance and abs(hi - row["success_high"]) <= tolerance
    at = figure.set_index(["model", "train_range"])
    assert at.loc[("nac_add→nac_mul", "[1,2]"), "seeds"] == 49  # one of the 50 runs is missing there
    assert (at.loc[("nau→nmu", "[0,1]"), "successes"], at.loc[("nau→nmu", "[-2,2]"), "successes"]) == (50, 39)
    assert at.loc[("nau→nmu", "[0,1]"), "solved_at_mean"] == pytest.approx(6.25e5, rel=0.01)
    assert at.loc[("nau→nmu", "[-2,2]"), "solved_at_mean"] == pytest.approx(8.5e4, rel=0.01)
    nalu = at.loc[("nalu→nalu", "[1,2]")]
    assert nalu["successes"] == 0 and np.isnan(nalu["solved_at_mean"])


def _r_style_pdf(content: str) -> bytes:
    """A one-page PDF around a content stream, as R's pdf device lays it out."""
    stream = zlib.compress(content.encode("latin-1"))
    return (
        b"%PDF-1.4\n1 0 obj\n<< /Type /Page /Parent 3 0 R /Contents 2 0 R >>\nendobj\n"
        + f"2 0 obj\n<<\n/Length {len(stream)} /Filter /FlateDecode\n>>\nstream\n".encode()
        + stream
        + b"\nendstream\nendobj\n"
    )


def _disc(x: float, y: float, colour: str, legend: bool = False) -> str:
    """R's filled circle: the ZapfDingbats disc placed by its lower left corner."""
    size, mode = 5.41, 2 if legend else 0
    corner = f"{x - 0.396 * size:.2f} {y - 0.347 * size:.2f}"
    return f"{colour} scn\nBT\n/F1 1 Tf {mode} Tr {size} 0 0 {size} {corner} Tm (l) Tj 0 Tr\nET\n"


def test_the_reader_recovers_points_bars_axes_and_legend_of_an_r_drawn_panel():
    red, pink = "0.973 0.463 0.427", "0.906 0.420 0.953"
    content = (
        "1 J 1 j q\nQ q 40.00 40.00 200.00 120.00 re W n\n/sRGB CS\n1.000 1.000 1.000 SCN\n1.07 w\n"
        "40.00 50.00 m\n240.00 50.00 l\nS\n40.00 150.00 m\n240.00 150.00 l\nS\n"  # y = 0 and y = 10
        "100.00 40.00 m\n100.00 160.00 l\nS\n180.00 40.00 m\n180.00 160.00 l\nS\n"  # categories A, B
        + _disc(99.0, 80.0, red)  # value 3
        + f"{pink} scn\n181.00 122.30 m\n183.00 118.85 l\n179.00 118.85 l\nh f\n"  # triangle at value 7
        + f"/GS1 gs\n{red} SCN\n97.00 90.00 m\n101.00 90.00 l\nS\n99.00 90.00 m\n99.00 70.00 l\nS\n"  # bar 2 to 4
        "Q q\nBT\n/F2 1 Tf 9.00 0.00 0.00 9.00 20.00 47.00 Tm (0) Tj\nET\n"
        "BT\n/F2 1 Tf 9.00 0.00 0.00 9.00 20.00 147.00 Tm (10) Tj\nET\n"
        "BT\n/F2 1 Tf 9.00 0.00 0.00 9.00 110.00 165.00 Tm [(Pan) 10 (el)] TJ\nET\n"
        "BT\n/F2 1 Tf 6.36 6.36 -6.36 6.36 90.00 30.00 Tm (A) Tj\nET\n"
        "BT\n/F2 1 Tf 6.36 6.36 -6.36 6.36 170.00 30.00 Tm (B) Tj\nET\n"
        + _disc(50.0, 10.0, red, legend=True)
        + "BT\n/F2 1 Tf 9.00 0.00 0.00 9.00 60.00 8.00 Tm (NA) Tj\nET\n"
        "BT\n/F6 1 Tf 6.00 0.00 0.00 6.00 75.00 6.00 Tm (\xb7) Tj\nET\n"  # the Symbol font's bullet
         + _disc(150.0, 10.0, pink, legend=True) + "BT\n/F2 1 Tf 9.00 0.00 0.00 9.00 160.00 8.00 Tm (NMU) Tj\nET\nQ\n"
    )
    read = read_figure(_r_style_pdf(content)).set_index("series")
    assert set(read.index) == {"NA•", "NMU"} and (read["panel"] == "Panel").all()
    disc, triangle = read.loc["NA•"], read.loc["NMU"]
    assert disc["category"] == "A" and disc["value"] == pytest.approx(3.0, abs=0.002)
    assert (disc["low"], disc["high"]) == pytest.approx((2.0, 4.0), abs=1e-9)
    assert triangle["category"] == "B" and triangle["value"] == pytest.approx(7.0, abs=1e-9)
    assert np.isnan(triangle["low"]) and disc["resolution"] == pytest.approx(0.001)


def test_the_reader_refuses_a_panel_whose_ticks_do_not_match_its_grid():
    content = (
        "q\nQ q 40.00 40.00 200.00 120.00 re W n\n1.000 1.000 1.000 SCN\n1.07 w\n"
        "40.00 50.00 m\n240.00 50.00 l\nS\n100.00 40.00 m\n100.00 160.00 l\nS\n"
        + _disc(99.0, 80.0, "0.973 0.463 0.427")
        + "Q q\nBT\n/F2 1 Tf 9 0 0 9 20.00 47.00 Tm (0) Tj\nET\nQ\n"
    )
    with pytest.raises(ValueError, match="tick labels"):
        read_figure(_r_style_pdf(content))


def test_the_committed_figure_is_the_papers_vector_output():
    pdf = RANGE_FIGURE.read_bytes()
    assert pdf.startswith(b"%PDF-1.4") and b"/Producer (R 3.5.1)" in pdf
    read = read_figure(pdf)
    assert set(read["panel"]) == {"Success rate", "Solved at iteration step", "Sparsity error"}
    assert set(read["series"]) == {"NMU", "NAC•", "NALU", "NAC•,σ", "NAC•,NMU"}
    assert read["category"].nunique() == 7
