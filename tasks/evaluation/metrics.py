"""Error metrics of predictions against targets (pure numpy, float64)."""

from __future__ import annotations

import numpy as np

from tasks.data import operations


def error_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """rmse, mae, max_abs_err, rel_err_median (median |ŷ−y|/|y| over y ≠ 0),
    nrmse (rmse / RMS of y) and mse. Non-finite predictions give inf/nan, never hide."""
    y = np.asarray(y_true, np.float64)
    p = np.asarray(y_pred, np.float64)
    err = p - y
    abs_err = np.abs(err)
    mse = float(np.mean(err * err))
    rmse = float(np.sqrt(mse))
    nonzero = y != 0
    rel = abs_err[nonzero] / np.abs(y[nonzero])
    rms_y = float(np.sqrt(np.mean(y * y)))
    return {
        "rmse": rmse,
        "mae": float(np.mean(abs_err)),
        "max_abs_err": float(np.max(abs_err)),
        "rel_err_median": float(np.median(rel)) if rel.size else float("nan"),
        "nrmse": rmse / rms_y if rms_y > 0 else float("nan"),
        "mse": mse,
    }


def near_perfect_mse(a: np.ndarray, b: np.ndarray, epsilon: float) -> float:
    """MSE of a nearly perfect multiplier: the exact product with each input scaled by (1 + ε),
    on these inputs (the `inputs_scaled` success rule of a·b, tasks.evaluation.success)."""
    error = operations.get("mul").scaled_error([np.asarray(a, np.float64), np.asarray(b, np.float64)], epsilon)
    return float(np.mean(error**2))


def diagonal_grid(lo: float, hi: float, points: int) -> np.ndarray:
    """The article's diagonal a = b = x: cell midpoints, so x never hits 0 (log models)."""
    step = (hi - lo) / points
    return lo + step * (np.arange(points) + 0.5)
