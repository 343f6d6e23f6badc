"""Regression verdicts where they must fire and where they must not, on simulated nights fed
through the nightly's own comparison: the same config with other seeds night after night (few
false alarms: Holm holds a night's chance of any at α), a planted regression (flagged), too
few seeds (underpowered), and nights recorded before headlines kept their seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tasks.evaluation.significance import ALPHA
from tasks.nightly.compare import compare
from tasks.report.comparison import compare_headlines
from tasks.report.headlines import Headline, headline_frame
from tasks.report.judgement import Pair, Side, judge

MEDIANS, RATES, SEEDS = 20, 10, 10  # a night's headlines, like the nightly preset's
SPREADS = np.geomspace(0.01, 1.0, MEDIANS)  # seed spread of each median on a log scale: 1% to decades


def simulated_night(date: str, rng: np.random.Generator, worse: dict[int, float] | None = None) -> pd.DataFrame:
    """One night of the same config with fresh seeds: medians of log-normal seeds, success
    rates of binomial seeds; `worse` scales the seeds of some medians (a planted regression)."""
    items = []
    for i, spread in enumerate(SPREADS):
        seeds = np.exp(rng.normal(0, spread, SEEDS)) * (worse or {}).get(i, 1.0)
        items.append(Headline("in_range_rmse", f"arch{i}", float(np.median(seeds)), 0, 0, SEEDS, "lower", list(seeds)))
    for i, rate in enumerate(np.linspace(0.2, 0.8, RATES)):
        k = int(rng.binomial(SEEDS, rate))
        items.append(Headline("success_rate", f"arch{i} @ r", k / SEEDS, 0, 1, SEEDS, "higher"))
    return headline_frame(items, date).assign(status="ok")


def test_same_config_other_seeds_rarely_cries_wolf_after_holm():
    """150 nights, each against a night of the same config with other seeds: the share of
    nights with any flag is not above α (tolerance 0, so only the test decides), each test
    alone rejects about α of the time (the tests are calibrated, not merely timid), and
    testing each headline at α without Holm would flag most nights."""
    rng = np.random.default_rng(7)
    nights, flagged, unadjusted, p_values = 150, 0, 0, []
    for _ in range(nights):
        previous, tonight = simulated_night("2026-01-01", rng), simulated_night("2026-01-02", rng)
        verdicts = compare(tonight, previous, 0.0, 7)
        assert len(verdicts) == MEDIANS + RATES and (verdicts["prev_date"] == "2026-01-01").all()
        flagged += verdicts["verdict"].isin(["regression", "improvement"]).any()
        unadjusted += (verdicts["p_value"] < ALPHA).any()
        p_values += verdicts["p_value"].tolist()
    # no more flagged nights than a false-alarm rate of α gives 99% of the time (1500 such nights: 3.3%)
    assert flagged <= stats.binom.ppf(0.99, nights, ALPHA), f"{flagged} of {nights} nights flagged"
    assert 0.02 <= np.mean(np.array(p_values) < ALPHA) <= ALPHA + 0.01
    assert unadjusted / nights >= 0.4  # 30 headlines a night: without Holm, false alarms most nights


def test_a_planted_regression_fires_and_nothing_else_does():
    rng = np.random.default_rng(3)
    before = simulated_night("2026-01-01", rng)
    tonight = simulated_night("2026-01-02", rng, worse={0: 1.5, 19: 20.0})  # tight seeds 50% worse; wide seeds 20×
    verdicts = compare(tonight, before, 0.1, 7).set_index("arch")
    assert verdicts.loc["arch0", "verdict"] == "regression" and verdicts.loc["arch19", "verdict"] == "regression"
    assert verdicts.loc["arch0", "p_holm"] < ALPHA and verdicts.loc["arch0", "test"] == "rank-sum (exact)"
    others = verdicts.drop(index=["arch0", "arch19"])
    assert not others["verdict"].isin(["regression", "improvement"]).any()
    assert set(others["verdict"]) <= {"no change", "underpowered"}
    assert verdicts.loc["arch1", "verdict"] == "no change"  # tight seeds: a 10% change would have shown
    assert verdicts.loc["arch1", "power"] >= 0.8
    assert verdicts.loc["arch18", "verdict"] == "underpowered"  # seeds spread over decades: 10% cannot show
    assert "power" in verdicts.loc["arch18", "note"]


def side(values: list[float]) -> Side:
    return Side(float(np.median(values)), len(values), np.asarray(values))


def test_too_few_seeds_is_underpowered_never_no_change():
    far = judge([Pair("in_range_rmse", "lower", side([1.0, 1.1]), side([9.0, 9.5]))], 0.1)[0]
    assert far.verdict == "underpowered" and "smallest p-value this test can give is 0.33" in far.note
    three = judge([Pair("in_range_rmse", "lower", side([1.0, 1.1, 1.2]), side([9.0, 9.5, 9.9]))], 0.1)[0]
    assert three.verdict == "underpowered" and three.p_value == pytest.approx(0.1)
    rate = judge([Pair("success_rate", "higher", Side(1.0, 3), Side(0.0, 3))], 0.1)[0]
    assert rate.verdict == "underpowered" and rate.test == "Fisher exact"  # 3 of 3 → 0 of 3: p = 0.1


def test_significant_but_within_the_tolerance_is_no_change():
    ref = side(list(np.linspace(1.0, 1.01, 10)))
    cur = side(list(np.linspace(1.0, 1.01, 10) * 1.05))  # 5% worse, every seed: significant
    judged = judge([Pair("in_range_rmse", "lower", ref, cur)], 0.1)[0]
    assert judged.p_holm < ALPHA and judged.verdict == "no change" and "within the tolerance" in judged.note
    flagged = judge([Pair("in_range_rmse", "lower", ref, cur)], 0.02)[0]
    assert flagged.verdict == "regression" and flagged.change == pytest.approx(0.05)


def test_success_rates_are_judged_in_rate_points_by_fishers_test():
    drop = judge([Pair("success_rate", "higher", Side(1.0, 10), Side(0.0, 10))], 0.1)[0]
    assert drop.verdict == "regression" and drop.change == -1.0 and drop.p_value == pytest.approx(2 / 184756)
    same = judge([Pair("success_rate", "higher", Side(0.0, 10), Side(0.0, 10))], 0.1)[0]
    assert same.verdict == "underpowered" and "every seed on both sides agrees" in same.note
    rise = judge([Pair("success_rate", "higher", Side(0.1, 40), Side(0.9, 40))], 0.1)[0]
    assert rise.verdict == "improvement" and rise.change == pytest.approx(0.8)


def test_headlines_that_cannot_reach_significance_do_not_dilute_the_family():
    """Two seeds a side can never reject: left out of Holm's family, they leave the others' level alone."""
    planted = Pair("in_range_rmse", "lower", side([1.0 + i / 100 for i in range(8)]), side([3.0 + i for i in range(8)]))
    hopeless = [Pair("in_range_rmse", "lower", side([1.0, 2.0]), side([1.5, 2.5])) for _ in range(50)]
    judged = judge([planted, *hopeless], 0.1)
    assert judged[0].verdict == "regression" and judged[0].p_holm == judged[0].p_value  # a family of one
    assert all(j.verdict == "underpowered" and np.isnan(j.p_holm) for j in judged[1:])


def test_nights_recorded_before_samples_were_kept_are_not_comparable():
    rng = np.random.default_rng(11)
    older = simulated_night("2026-01-01", rng).drop(columns="sample")  # the history schema of earlier versions
    verdicts = compare(simulated_night("2026-01-02", rng), older, 0.1, 7)
    medians = verdicts[verdicts["metric"] == "in_range_rmse"]
    assert (medians["verdict"] == "not comparable").all()
    assert medians["note"].str.contains("no per-seed values").all() and medians["change_vs_prev"].notna().all()
    rates = verdicts[verdicts["metric"] == "success_rate"]
    assert (rates["test"] == "Fisher exact").all() and rates["verdict"].isin(["no change", "underpowered"]).all()


def test_studies_collected_before_samples_were_kept_are_not_comparable():
    def table(with_sample: bool) -> pd.DataFrame:
        items = [Headline("in_range_rmse", "mlp", 1.0, 0.9, 1.1, 5, "lower", [0.9, 1.0, 1.0, 1.1, 1.2])]
        frame = pd.DataFrame([vars(h) for h in items])
        return frame if with_sample else frame.drop(columns="sample")

    verdict = compare_headlines(table(False), table(True), 0.1)
    assert verdict["verdict"].tolist() == ["not comparable"] and "the reference keeps no" in verdict["note"].iloc[0]
    assert compare_headlines(table(True), table(True), 0.1)["p_value"].iloc[0] == 1.0


def test_seeds_and_median_moving_opposite_ways_cannot_be_called():
    """Most of B's seeds are worse (the rank test says so), yet its median is 10% better: no
    direction to call, so neither a regression nor no change."""
    jitter = np.linspace(0, 0.001, 50)
    ref = side(list(np.r_[np.full(26, 1.0), np.full(24, 0.1)] + jitter))
    cur = side(list(np.r_[np.full(26, 0.9), np.full(24, 5.0)] + jitter))
    judged = judge([Pair("in_range_rmse", "lower", ref, cur)], 0.05)[0]
    assert judged.p_holm < ALPHA and judged.change == pytest.approx(-0.1, abs=0.01)
    assert judged.verdict == "underpowered" and "against the headline's change" in judged.note
