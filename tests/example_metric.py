"""A metric: the 95th percentile of the absolute error, between `mae` and `max_abs_err`.

In tasks/evaluation/metrics.py it is this function and one key of the dict
`error_metrics_rows` returns,
    "p95_abs_err": p95_abs_err(y, p),
which makes it a column of every evaluation's metrics table and of results/metrics/.
"""

import numpy as np


def p95_abs_err(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per model (a row of y_pred [M, n]; y_true [n] or [M, n]): the 95th percentile of |ŷ − y|
    (float64), the error most test points stay under, unlike max_abs_err, which one point
    decides. A row with a non-finite prediction gives inf/nan, never hides it."""
    error = np.atleast_2d(np.abs(np.asarray(y_pred, np.float64) - np.asarray(y_true, np.float64)))
    finite = np.isfinite(error).all(axis=1)
    p95 = np.percentile(np.where(np.isfinite(error), error, 0.0), 95, axis=1) if error.shape[1] else np.nan
    return np.where(finite, p95, np.max(error, axis=1) if error.shape[1] else np.nan)
