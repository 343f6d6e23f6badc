"""A success rule: a model has learned the operation on a range when its RMSE there is at
most ε times the RMS of y (its normalised RMSE is at most ε), on the range's test set.

In tasks/evaluation/success.py it is this class and one entry of REGISTRY,
    NRMSEBelow("nrmse_below", "normalised RMSE at most ε, on the test set", True),
after which `evaluation.success: {rule: nrmse_below, epsilon: 0.01}` selects it.
"""

import numpy as np

from tasks.evaluation.success import SuccessRule


class NRMSEBelow(SuccessRule):
    """The threshold is the MSE of a model whose error is ε·RMS(y) everywhere: MSE < ε²·mean(y²)."""

    def nearly_perfect_mse(self, target, x, layout, epsilon):  # x: inputs [n, N] of the test set
        y = np.asarray(target.target.y(target.params, x, layout), np.float64)  # the operation's y
        return float(epsilon**2 * np.mean(y * y))


RULE = NRMSEBelow("nrmse_below", "normalised RMSE at most ε, on the test set", True)
