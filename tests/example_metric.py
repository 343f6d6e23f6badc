"""A metric: the 95th percentile of the absolute error, between `mae` and `max_abs_err`.

In tasks/evaluation/metrics.py it is this function and one key of error_metrics' dict,
    "p95_abs_err": p95_abs_err(y, p),
which makes it a column of every evaluation's metrics table and of results/metrics/.
"""

import numpy as np


def p95_abs_err(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """95th percentile of |ŷ − y| (float64): the error most test points stay under, unlike
    max_abs_err, which one point decides. Non-finite predictions give inf/nan, never hide."""
    error = np.abs(np.asarray(y_pred, np.float64) - np.asarray(y_true, np.float64))
    return float(np.percentile(error, 95)) if np.isfinite(error).all() else float(np.max(error))
