"""The tests behind every verdict: Fisher's exact p-values, the rank-sum test, their power,
and Holm's step-down with its adjusted p-values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from tasks.evaluation.significance import (
    compare_estimates,
    compare_rates,
    estimate_power,
    fisher_p_value,
    fisher_smallest_p,
    holm,
    holm_adjusted,
    log_spread,
    mover_difference,
    rank_sum_power,
    rank_sum_smallest_p,
    rank_sum_test,
    rate_power,
    seeds_needed,
)


def test_fisher_p_values_equal_scipys_on_random_tables():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n1, n2 = rng.integers(1, 40), rng.integers(1, 120)
        k1, k2 = rng.integers(0, n1 + 1), rng.integers(0, n2 + 1)
        expected = stats.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue
        assert fisher_p_value(int(k1), int(n1), int(k2), int(n2)) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_power_matches_a_simulation():
    rng = np.random.default_rng(1)
    n1, n2, p1, p2 = 25, 100, 0.78, 0.98
    k1, k2 = rng.binomial(n1, p1, 20_000), rng.binomial(n2, p2, 20_000)
    simulated = np.mean([fisher_p_value(int(a), n1, int(b), n2) < 0.05 for a, b in zip(k1, k2)])
    assert rate_power(n1, n2, p1, p2) == pytest.approx(simulated, abs=0.01)


def test_each_verdict_where_the_data_say_so():
    assert compare_rates(25, 25, 98, 100).label == "consistent"  # enough seeds, same rate
    differs = compare_rates(15, 25, 98, 100)
    assert differs.label == "differs" and differs.direction == "lower" and differs.p_value < 0.05
    assert compare_rates(10, 10, 31, 100).direction == "higher"
    weak = compare_rates(9, 10, 98, 100)  # 10 seeds cannot tell 0.98 from 0.78
    assert weak.label == "underpowered" and weak.power < 0.8
    assert weak.seeds_needed is not None and weak.seeds_needed > 10
    assert rate_power(weak.seeds_needed, 100, 0.78, 0.98) >= 0.8 > rate_power(weak.seeds_needed - 1, 100, 0.78, 0.98)
    assert "20-point difference needs" in weak.describe()
    hopeless = compare_rates(4, 10, 21, 50)  # 50 published seeds cap the power however many run here
    assert hopeless.label == "underpowered" and hopeless.seeds_needed is None
    assert "against the published 50" in hopeless.describe()


def test_seeds_needed_grows_with_the_noise_of_the_rate():
    assert seeds_needed(100, 0.98) < seeds_needed(100, 0.31)


def test_holm_rejects_step_down_and_stops_at_the_first_failure():
    assert holm([0.01, 0.04, 0.03, 0.5]) == [True, False, False, False]
    assert holm([0.001, 0.012, 0.02, 0.9]) == [True, True, True, False]  # 0.012 < 0.05/3, 0.02 < 0.05/2
    assert holm([]) == []


def test_mover_difference_is_the_normal_one_for_symmetric_intervals_and_keeps_skew():
    d, lo, hi = mover_difference((10.0, 8.0, 12.0), (7.0, 6.0, 8.0))
    assert d == 3 and (lo, hi) == pytest.approx((3 - np.hypot(2, 1), 3 + np.hypot(2, 1)))
    d, lo, hi = mover_difference((10.0, 9.0, 14.0), (7.0, 6.0, 8.0))  # skewed: the long side widens the top
    assert (d - lo, hi - d) == pytest.approx((np.hypot(1, 1), np.hypot(4, 1)))


def test_each_estimate_verdict_where_the_data_say_so():
    published = (1.52e6, 1.455e6, 1.569e6)  # the paper's NMU solved-at on U[1,2] → U[2,6]
    same = compare_estimates((1.50e6, 1.45e6, 1.55e6), 40, published)
    assert same.label == "consistent" and same.power >= 0.8 and same.difference[1] < 0 < same.difference[2]
    later = compare_estimates((1.80e6, 1.72e6, 1.88e6), 40, published)
    assert later.label == "differs" and later.direction == "higher" and later.p_value < 1e-6
    earlier = compare_estimates((7.0e4, 5.0e4, 9.0e4), 10, (6.25e5, 5.46e5, 7.35e5))
    assert earlier.label == "differs" and earlier.direction == "lower"
    vague = compare_estimates((1.4e6, 0.8e6, 2.3e6), 3, published)  # 3 successful seeds: a wide interval
    assert vague.label == "underpowered" and vague.seeds_needed > 3 and "20% difference needs" in vague.describe()
    assert compare_estimates((1.4e6, np.nan, np.nan), 1, published).label == "underpowered"  # no run interval
    wide = compare_estimates((6e-4, 5e-4, 7e-4), 30, (5.8e-4, 3.2e-4, 1.06e-3))  # the paper's side decides nothing
    assert wide.label == "underpowered" and wide.seeds_needed is None and "published interval alone" in wide.describe()


def test_estimate_power_matches_a_simulation_of_the_z_test():
    rng = np.random.default_rng(2)
    se, diff = 1.0, 2.5
    z = rng.normal(diff, se, 50_000) / se
    assert estimate_power(se, diff) == pytest.approx(np.mean(np.abs(z) > 1.959964), abs=0.01)


def test_seeds_needed_for_an_estimate_brings_the_power_to_80_percent():
    published, run = (1.52e6, 1.455e6, 1.569e6), (1.4e6, 0.8e6, 2.3e6)
    need = compare_estimates(run, 3, published).seeds_needed
    z = 1.959964

    def power_at(n: int) -> float:  # this run's standard error at n seeds, beside the paper's
        se = np.hypot((run[2] - run[1]) / (2 * z) * np.sqrt(3 / n), (published[2] - published[1]) / (2 * z))
        return estimate_power(se, 0.2 * published[0])

    assert power_at(need) >= 0.8 > power_at(need - 1)


def test_holm_adjusted_p_values_reject_exactly_what_holm_rejects():
    assert holm_adjusted([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    rng = np.random.default_rng(3)
    for _ in range(200):
        p = (rng.uniform(0, 0.1, rng.integers(1, 12)) ** 2).tolist()
        assert [a < 0.05 for a in holm_adjusted(p)] == holm(p)


def test_rank_sum_p_values_are_scipys_exact_or_the_enumerated_ones_with_ties():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=9), rng.normal(1, 1, size=7)
    assert rank_sum_test(x, y).p_value == pytest.approx(stats.mannwhitneyu(x, y, method="exact").pvalue)
    assert rank_sum_test(x, y).method == "exact"
    x, y = np.array([1.0, 2.0, 3.0, 3.0]), np.array([3.0, 5.0, 6.0])  # ties: every split of the 7 values
    splits = [list(c) for c in __import__("itertools").combinations(range(7), 4)]
    pooled = np.concatenate([x, y])
    ranks = stats.rankdata(pooled)
    sums = np.array([ranks[c].sum() for c in splits])
    observed, centre = ranks[:4].sum(), 4 * 8 / 2
    expected = np.mean(np.abs(sums - centre) >= abs(observed - centre) - 1e-9)
    result = rank_sum_test(x, y)
    assert result.method == "exact, ties" and result.p_value == pytest.approx(expected)
    assert rank_sum_test(y, y[::-1]).p_value == 1.0  # the same seeds, unchanged: no evidence at all


def test_the_smallest_p_values_are_those_of_samples_fully_apart():
    assert rank_sum_smallest_p(2, 2) == pytest.approx(1 / 3) and rank_sum_smallest_p(1, 9) == pytest.approx(0.2)
    apart = rank_sum_test(np.arange(5.0), np.arange(5.0) + 10)
    assert apart.p_value == pytest.approx(rank_sum_smallest_p(5, 5)) and apart.dominance == 0.0
    grid = [[fisher_p_value(k1, 6, k - k1, 9) for k1 in range(max(0, k - 9), min(6, k) + 1)] for k in range(16)]
    assert [fisher_smallest_p(6, 9, k) for k in range(16)] == pytest.approx([min(row) for row in grid])
    assert fisher_smallest_p(10, 10, 0) == pytest.approx(1.0) and fisher_smallest_p(10, 10, 20) == pytest.approx(1.0)


def test_the_rank_sum_test_errs_at_alpha_when_nothing_changed():
    """Same distribution on both sides, 10 seeds each: the exact test rejects at most α of the
    time (its size, 0.043: its null distribution is discrete)."""
    rng = np.random.default_rng(5)
    p = [rank_sum_test(rng.lognormal(0, 1, 10), rng.lognormal(0, 1, 10)).p_value for _ in range(4000)]
    assert 0.035 <= np.mean(np.array(p) < 0.05) <= 0.05


def test_rank_sum_power_matches_a_fresh_simulation_and_grows_with_seeds():
    rng = np.random.default_rng(6)
    x = rng.lognormal(np.log(1.2), 0.15, (2000, 10))
    y = rng.lognormal(0.0, 0.15, (2000, 10))
    simulated = np.mean(stats.mannwhitneyu(x, y, method="exact", axis=1).pvalue < 0.01)
    assert rank_sum_power(10, 10, 1.2, 0.15, 0.01) == pytest.approx(simulated, abs=0.04)
    assert rank_sum_power(5, 5, 1.2, 0.15, 0.01) < rank_sum_power(20, 20, 1.2, 0.15, 0.01)
    assert rank_sum_power(3, 3, 100.0, 0.01, 0.05) == 0.0  # 3 against 3 can never reach p < 0.05
    assert rank_sum_power(8, 8, 1.1, 0.0, 0.01) == 1.0  # seeds that agree exactly: any change shows


def test_log_spread_is_the_seeds_spread_not_the_shift_between_samples():
    rng = np.random.default_rng(8)
    a, b = rng.lognormal(0, 0.4, 400), rng.lognormal(3, 0.4, 400)
    assert log_spread(a, b) == pytest.approx(0.4, rel=0.1)
    assert log_spread(np.ones(5), np.ones(5) * 2) == 0.0
