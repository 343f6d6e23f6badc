"""The pieces of R that stable-nalu's summary (export/_compute_summary.r) leans on, ported so
that the papers' published statistics come out of the same procedure:

    optim(method = "L-BFGS-B")   scipy's L-BFGS-B with R's settings (5 corrections, factr 1e7,
                                 pgtol 0, 100 iterations) and R's finite-difference gradient
                                 (central, absolute step ndeps = 1e-3, shortened at the bounds)
    numDeriv::hessian            Richardson extrapolation of central differences (relative step 0.1)
    MASS::ginv                   the SVD pseudo-inverse, singular values under √ε·d₁ dropped
    stats::spline / approx       the Forsythe–Malcolm–Moler cubic spline on 3n points, and linear
                                 interpolation that is NA outside the data
    dgamma / dbeta (log)         with R's limit cases

These matter because the papers' optimiser rarely reaches the maximum: with the absolute step
1e-3 on parameters of size 10⁶ it stops where its first step gains too little, and bbmle's
profile then walks the mean in steps of its standard error. A textbook MLE gives other numbers.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
from scipy import optimize, special
from threadpoolctl import ThreadpoolController

NDEPS = 1e-3  # optim's default finite-difference step (absolute)
FACTR = 1e7  # optim's default: stop when the relative reduction of f is under factr·ε
LMM = 5  # optim's default number of L-BFGS-B corrections
MAXIT = 100  # optim's default iteration limit

Objective = Callable[[np.ndarray], float]


class RError(RuntimeError):
    """Where R would stop with an error (a non-finite objective or gradient, a singular fit)."""


def r_sum(values: np.ndarray) -> float:
    """R's sum() accumulates in extended precision; an exactly rounded sum is the closer match."""
    return math.fsum(values)


def fd_gradient(f: Objective, p: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """optim's numerical gradient under bounds: central differences with step NDEPS, each side
    cut back to the bound it would cross."""
    g = np.empty(len(p))
    for i in range(len(p)):
        up, down = NDEPS, NDEPS
        x = p.copy()
        x[i] = p[i] + NDEPS
        if x[i] > upper[i]:
            x[i] = upper[i]
            up = x[i] - p[i]
        f1 = f(x)
        x[i] = p[i] - NDEPS
        if x[i] < lower[i]:
            x[i] = lower[i]
            down = p[i] - x[i]
        f2 = f(x)
        g[i] = (f1 - f2) / (up + down)
        if not np.isfinite(g[i]):
            raise RError(f"non-finite finite-difference value [{i + 1}]")
    return g


@functools.cache
def _blas() -> ThreadpoolController:
    return ThreadpoolController()


def optim_lbfgsb(f: Objective, start: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, float]:
    """(par, value) as optim(start, f, method = "L-BFGS-B", lower, upper) returns them."""

    def value_and_gradient(p: np.ndarray) -> tuple[float, np.ndarray]:
        value = f(p)
        if not np.isfinite(value):
            raise RError("L-BFGS-B needs finite values of 'fn'")
        return value, fd_gradient(f, p, lower, upper)

    with _blas().limit(limits=1, user_api="blas"):  # 2×2 algebra: BLAS threads only add waits (seconds under load)
        res = optimize.minimize(
            value_and_gradient,
            np.asarray(start, np.float64),
            jac=True,
            method="L-BFGS-B",
            bounds=list(zip(lower, upper)),
            options={"maxcor": LMM, "ftol": FACTR * np.finfo(float).eps, "gtol": 0.0, "maxiter": MAXIT},
        )
    return np.asarray(res.x, np.float64), float(res.fun)


def numderiv_hessian(f: Objective, x: np.ndarray) -> np.ndarray:
    """numDeriv::hessian(f, x) with its defaults for hessian (d = 0.1, eps = 1e-4, r = 4, v = 2)."""
    d, eps, r = 0.1, 1e-4, 4
    zero_tol = np.sqrt(np.finfo(float).eps / 7e-7)
    n = len(x)
    f0 = f(x)
    h0 = np.abs(d * x) + eps * (np.abs(x) < zero_tol)
    unit = np.eye(n)

    def richardson(a: list[float]) -> float:
        a = list(a)
        for m in range(1, r):
            for k in range(r - m):
                a[k] = (a[k + 1] * 4**m - a[k]) / (4**m - 1)
        return a[0]

    diag = np.empty(n)
    for i in range(n):
        h, second = h0.copy(), []
        for _ in range(r):
            f1, f2 = f(x + unit[i] * h), f(x - unit[i] * h)
            second.append((f1 - 2 * f0 + f2) / h[i] ** 2)
            h = h / 2
        diag[i] = richardson(second)
    hess = np.diag(diag)
    for i in range(n):
        for j in range(i):
            h, cross = h0.copy(), []
            for _ in range(r):
                f1 = f(x + unit[i] * h + unit[j] * h)
                f2 = f(x - unit[i] * h - unit[j] * h)
                cross.append((f1 - 2 * f0 + f2 - diag[i] * h[i] ** 2 - diag[j] * h[j] ** 2) / (2 * h[i] * h[j]))
                h = h / 2
            hess[i, j] = hess[j, i] = richardson(cross)
    return hess


def ginv(m: np.ndarray) -> np.ndarray:
    """MASS::ginv: NaN where R's svd() would refuse the matrix."""
    if not np.isfinite(m).all():
        return np.full(m.shape[::-1], np.nan)
    u, s, vt = np.linalg.svd(m)
    positive = s > max(np.sqrt(np.finfo(float).eps) * s[0], 0)
    return vt[positive].T @ ((1 / s[positive])[:, None] * u[:, positive].T)


def regularize(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R's regularize.values(ties = mean): sorted by x, tied x collapsed to their mean y."""
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    ux, inverse = np.unique(x, return_inverse=True)
    if len(ux) == len(x):
        return x, y
    return ux, np.bincount(inverse, weights=y) / np.bincount(inverse)


def approx(x: np.ndarray, y: np.ndarray, xout: np.ndarray) -> np.ndarray:
    """approx(x, y, xout): linear interpolation, NaN outside the data (rule = 1)."""
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = regularize(np.asarray(x, float)[ok], np.asarray(y, float)[ok])
    xout = np.asarray(xout, float)
    inside = (xout >= x[0]) & (xout <= x[-1]) if len(x) else np.zeros(len(xout), bool)
    return np.where(inside, np.interp(xout, x, y) if len(x) else np.nan, np.nan)


def fmm_spline(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """spline(x, y) (method "fmm", n = 3·length(x)): the Forsythe–Malcolm–Moler cubic spline,
    whose end third derivatives match the cubics through the four end points, evaluated on an
    evenly spaced grid from min(x) to max(x)."""
    x, y = regularize(np.asarray(x, float), np.asarray(y, float))
    n = len(x)
    b, c, d = np.zeros(n), np.zeros(n), np.zeros(n)
    if n < 3:
        b[:] = (y[1] - y[0]) / (x[1] - x[0])
    else:
        d[0] = x[1] - x[0]
        c[1] = (y[1] - y[0]) / d[0]
        for i in range(1, n - 1):
            d[i] = x[i + 1] - x[i]
            b[i] = 2 * (d[i - 1] + d[i])
            c[i + 1] = (y[i + 1] - y[i]) / d[i]
            c[i] = c[i + 1] - c[i]
        b[0], b[-1] = -d[0], -d[n - 2]
        c[0] = c[-1] = 0.0
        if n > 3:
            c[0] = c[2] / (x[3] - x[1]) - c[1] / (x[2] - x[0])
            c[-1] = c[n - 2] / (x[n - 1] - x[n - 3]) - c[n - 3] / (x[n - 2] - x[n - 4])
            c[0] = c[0] * d[0] * d[0] / (x[3] - x[0])
            c[-1] = -c[-1] * d[n - 2] * d[n - 2] / (x[n - 1] - x[n - 4])
        for i in range(1, n):
            t = d[i - 1] / b[i - 1]
            b[i] -= t * d[i - 1]
            c[i] -= t * c[i - 1]
        c[-1] /= b[-1]
        for i in range(n - 2, -1, -1):
            c[i] = (c[i] - d[i] * c[i + 1]) / b[i]
        b[-1] = (y[-1] - y[-2]) / d[n - 2] + d[n - 2] * (c[n - 2] + 2 * c[-1])
        for i in range(n - 1):
            b[i] = (y[i + 1] - y[i]) / d[i] - d[i] * (c[i + 1] + 2 * c[i])
            d[i] = (c[i + 1] - c[i]) / d[i]
            c[i] = 3 * c[i]
        c[-1] *= 3
        d[-1] = d[n - 2]
    grid = np.linspace(x[0], x[-1], 3 * n)  # R evaluates n = 3·length(x) after the ties are merged
    i = np.clip(np.searchsorted(x, grid, side="right") - 1, 0, n - 1)
    dx = grid - x[i]
    return grid, y[i] + dx * (b[i] + dx * (c[i] + dx * d[i]))


def dgamma_log(x: np.ndarray, shape: float, rate: float) -> np.ndarray:
    """dgamma(x, shape, rate, log = TRUE), NaN for an invalid shape or rate as R gives."""
    if not (shape >= 0 and rate > 0) or not np.isfinite(rate):
        return np.full(len(x), np.nan)
    if shape == 0:
        return np.where(x == 0, np.inf, -np.inf)
    return special.xlogy(shape - 1, x) + shape * np.log(rate) - rate * x - special.gammaln(shape)


def dbeta_log(x: np.ndarray, a: float, b: float) -> np.ndarray:
    """dbeta(x, a, b, log = TRUE) for x in (0, 1), with R's point masses where a or b is 0."""
    if not (a >= 0 and b >= 0):
        return np.full(len(x), np.nan)
    if a == 0 or b == 0 or not np.isfinite(a) or not np.isfinite(b):
        return np.full(len(x), -np.inf)  # a point mass at 0, ½ or 1: no density inside (0, ½)
    return special.xlogy(a - 1, x) + special.xlog1py(b - 1, -x) - special.betaln(a, b)
