"""The tests behind every verdict: Fisher's exact p-values, their power, and Holm's step-down."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from tasks.evaluation.significance import (
    compare_estimates,
    compare_rates,
    estimate_power,
    fisher_p_value,
    holm,
    mover_difference,
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
