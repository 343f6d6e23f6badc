"""Error metrics of predictions against targets (pure numpy, float64)."""

from __future__ import annotations

import numpy as np

from tasks.data import operations

ERROR_METRICS = ("rmse", "mae", "max_abs_err", "rel_err_median", "nrmse", "mse")


def error_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """rmse, mae, max_abs_err, rel_err_median (median |ŷ−y|/|y| over y ≠ 0),
    nrmse (rmse / RMS of y) and mse. Non-finite predictions give inf/nan, never hide."""
    return {name: float(v[0]) for name, v in error_metrics_rows(y_true, np.asarray(y_pred)[None]).items()}


def error_metrics_rows(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, np.ndarray]:
    """`error_metrics` of many models at once: y_true [n] (shared) or [M, n], y_pred [M, n];
    each metric an array [M] (float64), the same numbers as one model at a time."""
    p = np.asarray(y_pred, np.float64)
    y = np.broadcast_to(np.asarray(y_true, np.float64), p.shape)
    err = p - y
    abs_err = np.abs(err)
    mse = np.mean(err * err, axis=1)
    rmse = np.sqrt(mse)
    rms_y = np.sqrt(np.mean(y * y, axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        nrmse = np.where(rms_y > 0, rmse / np.where(rms_y > 0, rms_y, 1.0), np.nan)
    return {
        "rmse": rmse,
        "mae": np.mean(abs_err, axis=1),
        "max_abs_err": np.max(abs_err, axis=1) if p.shape[1] else np.full(len(p), np.nan),
        "rel_err_median": _relative_median(y, abs_err),
        "nrmse": nrmse,
        "mse": mse,
    }


def _relative_median(y: np.ndarray, abs_err: np.ndarray) -> np.ndarray:
    """Per row: median |ŷ−y|/|y| over the entries with y ≠ 0 (NaN where there are none)."""
    nonzero = y != 0
    if nonzero.all() and y.shape[1]:  # the usual case: one vectorized median
        return np.median(abs_err / np.abs(y), axis=1)
    out = np.full(len(y), np.nan)
    for i in range(len(y)):  # rows with zero targets (rare): each its own subset
        keep = nonzero[i]
        if keep.any():
            out[i] = np.median(abs_err[i][keep] / np.abs(y[i][keep]))
    return out


def near_perfect_mse(a: np.ndarray, b: np.ndarray, epsilon: float) -> float:
    """MSE of a nearly perfect multiplier: the exact product with each input scaled by (1 + ε),
    on these inputs (the `inputs_scaled` success rule of a·b, tasks.evaluation.success)."""
    error = operations.get("mul").scaled_error([np.asarray(a, np.float64), np.asarray(b, np.float64)], epsilon)
    return float(np.mean(error**2))


def diagonal_grid(lo: float, hi: float, points: int) -> np.ndarray:
    """The article's diagonal a = b = x: cell midpoints, so x never hits 0 (log models)."""
    step = (hi - lo) / points
    return lo + step * (np.arange(points) + 0.5)
