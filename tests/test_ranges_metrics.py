import math

import numpy as np
import pytest

from tasks.core.ranges import Ranges, coverage
from tasks.evaluation.metrics import diagonal_grid, error_metrics


def test_coverage_of_nested_squares():
    train = Ranges.of((0, 1))
    assert coverage(train, Ranges.of((0, 1))) == 1.0
    assert coverage(train, Ranges.of((0, 2))) == pytest.approx(0.25)
    assert coverage(train, Ranges.of((0, 10))) == pytest.approx(0.01)
    assert coverage(train, Ranges.of((0, 100))) == pytest.approx(1e-4)


def test_coverage_partial_overlap_and_disjoint():
    assert coverage(Ranges.of((1, 3)), Ranges.of((2, 6))) == pytest.approx((1 / 4) ** 2)
    assert coverage(Ranges.of((0, 1)), Ranges.of((1, 5))) == 0.0


def test_coverage_with_unions():
    train = Ranges.of((-2, 2))
    evaluation = Ranges.of((-6, -2), (2, 6))
    assert coverage(train, evaluation) == 0.0
    # a training union against a covering interval: (1 + 1) / 4 on each axis
    assert coverage(Ranges.of((0, 1), (2, 3)), Ranges.of((0, 4))) == pytest.approx(0.25)


def test_scaled_ladder_anchors_at_lo():
    assert Ranges.of((0, 1)).scaled(5).to_json() == [[0.0, 5.0]]
    assert Ranges.of((1, 2)).scaled(3).to_json() == [[1.0, 4.0]]


def test_ranges_reject_bad_intervals():
    with pytest.raises(ValueError):
        Ranges.of((1, 1))
    with pytest.raises(ValueError):
        Ranges.of((0, 2), (1, 3))


def test_label_and_contains():
    r = Ranges.of((2, 6), (-6, -2))
    assert r.label() == "[-6,-2]∪[2,6]"
    assert r.contains(np.array([-4.0, 0.0, 2.0, 7.0])).tolist() == [True, False, True, False]


def test_error_metrics_hand_computed():
    y = np.array([1.0, 2.0, 4.0, -2.0])
    p = np.array([1.5, 2.0, 3.0, -2.5])
    m = error_metrics(y, p)
    # errors 0.5, 0, -1, -0.5 → squares 0.25, 0, 1, 0.25
    assert m["mse"] == pytest.approx(1.5 / 4)
    assert m["rmse"] == pytest.approx(math.sqrt(1.5 / 4))
    assert m["mae"] == pytest.approx(2.0 / 4)
    assert m["max_abs_err"] == pytest.approx(1.0)
    # relative errors 0.5, 0, 0.25, 0.25 → median 0.25
    assert m["rel_err_median"] == pytest.approx(0.25)
    # RMS of y = sqrt((1 + 4 + 16 + 4) / 4) = 2.5
    assert m["nrmse"] == pytest.approx(math.sqrt(1.5 / 4) / 2.5)


def test_error_metrics_skip_zero_targets_in_relative_error():
    m = error_metrics(np.array([0.0, 2.0]), np.array([1.0, 3.0]))
    assert m["rel_err_median"] == pytest.approx(0.5)


def test_error_metrics_expose_non_finite_predictions():
    m = error_metrics(np.array([1.0, 2.0]), np.array([np.inf, 2.0]))
    assert not math.isfinite(m["rmse"])


def test_diagonal_grid_midpoints():
    x = diagonal_grid(0, 10, 1000)
    assert len(x) == 1000 and x[0] == pytest.approx(0.005) and x[-1] == pytest.approx(9.995)
    assert (x > 0).all()


def test_widening_policies():
    neg, mid, pos = Ranges.of((-3, -1)), Ranges.of((-1, 1)), Ranges.of((1, 2))
    assert pos.widened(3, "right").to_json() == [[1.0, 4.0]]
    assert neg.widened(3, "left").to_json() == [[-7.0, -1.0]]
    assert mid.widened(3, "both").to_json() == [[-3.0, 3.0]]
    assert pos.widened(2, "centered").to_json() == [[-4.0, 4.0]]  # inputs twice as large, both signs
    # outward (the default): away from zero on whichever side the range lies
    assert neg.widened(3, "outward") == neg.widened(3, "left")
    assert mid.widened(3, "outward") == mid.widened(3, "both")
    assert pos.widened(3, "outward") == pos.widened(3, "right")
    for policy in ("right", "left", "both", "outward"):  # scale 1 is the range itself
        assert neg.widened(1, policy) == neg and coverage(neg, neg.widened(10, policy)) == pytest.approx(0.01)


def test_coverage_is_probability_mass_under_the_distribution():
    # log-uniform: [1, 10] holds half of the log-range of [1, 100], so a quarter of the square's mass
    assert coverage(Ranges.of((1, 10)), Ranges.of((1, 100)), "log_uniform") == pytest.approx(0.25)
    assert coverage(Ranges.of((1, 10)), Ranges.of((1, 100)), "uniform") == pytest.approx((9 / 99) ** 2)
    # N inputs: the share per input to the power N
    assert coverage(Ranges.of((0, 1)), Ranges.of((0, 2)), n_inputs=3) == pytest.approx(1 / 8)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 10, 101, 3334])
def test_bootstrap_medians_equal_numpys_bit_for_bit(n):
    """The median interval's resample medians, counted per rank, are np.median's exactly
    (odd and even sizes, ties), so the reports' intervals did not move when it got faster."""
    from tasks.evaluation.intervals import bootstrap_medians

    rng = np.random.default_rng(n)
    for v in (rng.normal(size=n) * 1e3, np.round(rng.normal(size=n) * 3)):  # distinct values, then ties
        picks = rng.integers(0, n, (2000, n))
        assert np.array_equal(bootstrap_medians(v, picks), np.median(v[picks], axis=1))
