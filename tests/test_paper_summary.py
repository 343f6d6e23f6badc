"""The papers' summary, proven on the papers' data: stable-nalu's per-seed results
(tests/data/stable-nalu/sft-last.csv @f371c1ec) through the lab's port of its
export/_compute_summary.r give every number of its published summary (sft-short.csv, the same
commit): Wilson intervals and medians to the bit, fitted values to 3 significant digits."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.evaluation.intervals import (
    SUMMARIES,
    beta_stat,
    gamma_stat,
    iclr2020_summary,
    normal_stat,
    wilson_interval,
)
from tasks.report.published_sources import STATIC_TABLE

PER_SEED = Path(__file__).parent / "data" / "stable-nalu" / "sft-last.csv"
EXACT = {  # published column → the port's, compared to the bit
    "success.rate.mean": "success_rate",
    "success.rate.lower": "ci_low",
    "success.rate.upper": "ci_high",
    "converged.at.median": "solved_at_median",
}
FITTED = {  # compared to 3 significant digits (R's optimiser digits are not reproducible)
    "converged.at.mean": "solved_at_mean",
    "converged.at.lower": "solved_at_low",
    "converged.at.upper": "solved_at_high",
    "sparse.error.mean": "sparsity_error_mean",
    "sparse.error.lower": "sparsity_error_low",
    "sparse.error.upper": "sparsity_error_high",
}


def _group(per_seed: pd.DataFrame, model: str, operation: str) -> pd.DataFrame:
    return per_seed[(per_seed["model"] == model) & (per_seed["operation"] == operation)]


def _successful(g: pd.DataFrame, column: str) -> np.ndarray:
    return g.loc[g["solved"], column].to_numpy(float)


@pytest.fixture(scope="module")
def reproduced():
    """(published row, the port's summary of the same seeds) for every row of sft-short.csv."""
    per_seed = pd.read_csv(PER_SEED)
    published = pd.read_csv(STATIC_TABLE)
    out = []
    for row in published.to_dict("records"):
        g = _group(per_seed, row["model"], row["operation"])
        assert len(g) == 100  # the paper's 100 seeds per model and operation
        ours = iclr2020_summary(
            g["solved"].to_numpy(bool),
            _successful(g, "extrapolation.step.solved"),
            _successful(g, "sparse.error.max"),
        )
        out.append((row, ours))
    return out


def _same_3_digits(published: float, ours: float) -> bool:
    if np.isnan(published) or np.isnan(ours):
        return np.isnan(published) and np.isnan(ours)
    if published == 0:
        return ours == 0
    return abs(ours - published) <= 0.5 * 10 ** (math.floor(math.log10(abs(published))) - 2)


def test_every_row_and_column_of_the_published_summary(reproduced):
    assert len(reproduced) == 60  # 10 models × 6 operations
    solved_rows = 0
    for published, ours in reproduced:
        label = f"{published['model']} {published['operation']}"
        for theirs, mine in EXACT.items():
            if np.isnan(published[theirs]):
                assert np.isnan(ours[mine]), f"{label} {theirs}"
            else:
                assert ours[mine] == published[theirs], f"{label} {theirs}: {ours[mine]!r} vs {published[theirs]!r}"
        for theirs, mine in FITTED.items():
            same = _same_3_digits(published[theirs], ours[mine])
            assert same, f"{label} {theirs}: {ours[mine]} vs {published[theirs]}"
        solved_rows += not np.isnan(published["converged.at.mean"])
    assert solved_rows == 21  # rows with successful seeds, where the fits run


def test_the_rows_cover_the_fallback_and_the_profile_paths():
    per_seed = pd.read_csv(PER_SEED)
    # NMU ×: the beta fit's Hessian gives no standard error, so the paper fell back to the mean
    # with a t-interval (f371c1ec): our number is exactly that, and the published one agrees
    nmu = _successful(_group(per_seed, "NMU", "$\\bm{\\times}$"), "sparse.error.max")
    assert beta_stat(nmu) == normal_stat(np.clip(nmu, 1e-16, 0.5 - 1e-16), 0.0, 0.5)
    assert beta_stat(nmu)[0] == pytest.approx(4.205610505833851e-07, rel=1e-12)
    # NAC• ×: the profile-likelihood path; μ of Beta(2μv, (1 − 2μ)v) is about half the mean
    nac = _successful(_group(per_seed, "$\\mathrm{NAC}_{\\bullet}$", "$\\bm{\\times}$"), "sparse.error.max")
    mu, lo, hi = beta_stat(nac)
    assert (mu, lo, hi) == pytest.approx((5.803962960754129e-4, 3.2289171648511365e-4, 1.0632081607829524e-3), rel=5e-4)
    assert 0.45 < mu / nac.mean() < 0.55 and lo < mu < hi
    # NAU +: R's optimiser stalls at the start, and bbmle's profile walks the mean up in steps of
    # its standard error until no step finds a better fit: twice the sample mean, as published
    nau = _successful(_group(per_seed, "NAU", "$\\bm{+}$"), "extrapolation.step.solved")
    mean, lo, hi = gamma_stat(nau)
    assert mean == pytest.approx(390919.1237556279, rel=5e-4) and mean / nau.mean() > 2
    assert (lo, hi) == pytest.approx((353873.64803, 434566.753774287), rel=5e-4)


def test_no_spread_and_single_values_fall_back_as_the_paper_does():
    assert gamma_stat(np.array([1003000.0] * 3)) == (1003000.0, 1003000.0, 1003000.0)  # t-interval of width 0
    assert gamma_stat(np.array([5.0]))[0] == 5.0 and np.isnan(gamma_stat(np.array([5.0]))[1])
    # errors next to ½: Beta(2μv, (1 − 2μ)v) fits μ ≈ ¼ (its mean is 2μ), as R 4.2.2 with bbmle 1.0.25 gives
    got = beta_stat(np.array([0.4999999, 0.49999, 0.4999995]))
    assert got == pytest.approx((0.2499982332, 0.2488055127, 0.2511909540), rel=5e-4)
    empty = iclr2020_summary(np.zeros(10, bool), np.array([]), np.array([]))
    assert empty["success_rate"] == 0 and np.isnan(empty["solved_at_mean"]) and np.isnan(empty["solved_at_median"])


def test_wilson_matches_binom_to_the_bit_and_has_exact_ends():
    assert wilson_interval(98, 100) == (0.9299882092714561, 0.9944980324498376)  # sft-short.csv, NMU ×
    assert wilson_interval(0, 100) == (0.0, 0.03699349820698566)
    lo, hi = wilson_interval(25, 25)
    assert hi == 1.0 and lo == pytest.approx(0.8668, abs=1e-4)


def test_the_nalm_benchmark_summary_adds_the_largest_solved_at_step():
    rng = np.random.default_rng(0)
    success = rng.random(20) < 0.6
    steps = rng.gamma(20, 7.5e4, success.sum())
    errors = rng.beta(2, 4000, success.sum()) / 2
    paper, primer = SUMMARIES["iclr2020"](success, steps, errors), SUMMARIES["primer2022"](success, steps, errors)
    assert primer == paper | {"solved_at_max": steps.max()}
