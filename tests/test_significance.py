"""The tests behind every verdict: Fisher's exact p-values, their power, and Holm's step-down."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from tasks.evaluation.significance import compare_rates, fisher_p_value, holm, rate_power, seeds_needed


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


def test_seeds_needed_grows_with_the_noise_of_the_rate():
    assert seeds_needed(100, 0.98) < seeds_needed(100, 0.31)


def test_holm_rejects_step_down_and_stops_at_the_first_failure():
    assert holm([0.01, 0.04, 0.03, 0.5]) == [True, False, False, False]
    assert holm([0.001, 0.012, 0.02, 0.9]) == [True, True, True, False]  # 0.012 < 0.05/3, 0.02 < 0.05/2
    assert holm([]) == []
