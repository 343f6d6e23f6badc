"""bbmle's mle2, profile and confint (R package bbmle, as stable-nalu's summary calls them):
maximum likelihood by optim's L-BFGS-B, standard errors from numDeriv's Hessian through a
pseudo-inverse, and the profile-likelihood interval of one parameter found by bbmle's
stepping profile (steps of del·SE until the signed root deviance passes zmax) read off an
interpolating spline at ±1.96. When a profile step finds a lower deviance than the fit,
bbmle returns that profile fit instead, and the caller refits from it (as the paper's code
does, until the profile finds nothing better).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from tasks.evaluation.r_numerics import RError, approx, fmm_spline, ginv, numderiv_hessian, optim_lbfgsb

TOL_NEWMIN = 1e-3  # a profile deviance this far below the fit's is a better fit
MAXSTEPS = 100
ALPHA = 0.01  # the profile runs until |z| passes the χ²(1 − α/2) root for the number of parameters

NegLogLik = Callable[[np.ndarray], float]  # of the full parameter vector


@dataclass(frozen=True)
class Fit:
    coef: np.ndarray  # the full parameter vector (a fixed one included)
    min: float  # the negative log-likelihood there
    hessian: np.ndarray | None = None  # None where skipped (profile fits)

    @property
    def std_err(self) -> np.ndarray:
        """summary(fit)'s standard errors: √diag(ginv(H)), NaN where negative or not invertible."""
        with np.errstate(invalid="ignore"):
            return np.sqrt(np.diag(ginv(self.hessian)))

    @property
    def hessian_std_err(self) -> np.ndarray:
        """√(1/diag(H)), bbmle's fallback."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sqrt(1 / np.diag(self.hessian))


@dataclass(frozen=True)
class Problem:
    nll: NegLogLik
    lower: np.ndarray
    upper: np.ndarray


def mle2(problem: Problem, start: np.ndarray, fixed: int | None = None, value: float = np.nan) -> Fit:
    """mle2(nll, start, method = "L-BFGS-B", lower, upper[, fixed]); the Hessian is computed
    only for a full fit (a profile fit skips it, as bbmle's profile does)."""
    free = np.array([i for i in range(len(start)) if i != fixed])

    def full(p: np.ndarray) -> np.ndarray:
        x = np.array(start, np.float64)
        x[free] = p
        if fixed is not None:
            x[fixed] = value
        return x

    def objective(p: np.ndarray) -> float:
        return problem.nll(full(p))

    par, minimum = optim_lbfgsb(objective, np.asarray(start, float)[free], problem.lower[free], problem.upper[free])
    if fixed is not None:
        return Fit(full(par), minimum)
    return Fit(par, minimum, numderiv_hessian(objective, par))


@dataclass(frozen=True)
class Profile:
    z: np.ndarray  # signed root deviance, sorted by the parameter
    values: np.ndarray  # the profiled parameter at each z


def profile(problem: Problem, fit: Fit, which: int) -> Profile | Fit:
    """bbmle's proffun for one parameter: a Profile, or the better Fit it stumbled on."""
    b0, p = fit.coef, len(fit.coef)
    std_err = fit.std_err
    if np.isnan(std_err).any():
        std_err = np.where(np.isnan(std_err), fit.hessian_std_err, std_err)
        if np.isnan(std_err).any():
            raise RError("Hessian is ill-behaved or missing, can't find an initial estimate of std. error")
    zmax = float(np.sqrt(stats.chi2.ppf(1 - ALPHA / 2, p)))
    delta = zmax / 5
    se = float(std_err[which])
    lbound, ubound = problem.lower[which], problem.upper[which]
    zs, values = [0.0], [float(b0[which])]

    class Better(Exception):
        def __init__(self, fit: Fit):
            self.fit = fit

    def onestep(sgn: int, step: float | None = None, at: float | None = None) -> float:
        bi = b0[which] + sgn * step * delta * se if at is None else at
        try:
            pfit = mle2(problem, b0, fixed=which, value=bi)
        except RError:
            return np.nan
        zz = 2 * (pfit.min - fit.min)
        if not np.isnan(zz) and zz < 0:
            if zz <= -TOL_NEWMIN:
                raise Better(pfit)
            z = 0.0
        else:
            z = sgn * np.sqrt(zz)
        zs.append(z)
        values.append(float(bi))
        return z

    try:
        for sgn in (-1, 1):
            step, z, flat, bound = 0, 0.0, False, False
            old_val = old_z = None
            while (step := step + 1) < MAXSTEPS and (np.isnan(z) or abs(z) < zmax):
                curval = b0[which] + sgn * step * delta * se
                if (sgn == -1 and curval < lbound) or (sgn == 1 and curval > ubound):
                    bound = True
                    break
                z = onestep(sgn, step)
                if step > 1 and (curval == old_val or z == old_z):
                    flat = True
                    break
                old_val, old_z = curval, z
                if np.isnan(z):
                    break
            cutoff = not np.isnan(z) and abs(z) >= zmax
            if flat:
                continue
            if not cutoff:
                for dstep in (0.2, 0.4, 0.6, 0.8, 0.9):  # past the last good step, in finer steps
                    curval = b0[which] + sgn * (step - 1 + dstep) * delta * se
                    if (sgn == -1 and curval < lbound) or (sgn == 1 and curval > ubound):
                        break
                    z = onestep(sgn, step - 1 + dstep)
                    if np.isnan(z) or abs(z) > zmax:
                        break
                if bound:  # and at the bound itself
                    if sgn == -1 and b0[which] > lbound:
                        onestep(sgn, at=lbound)
                    if sgn == 1 and b0[which] < ubound:
                        onestep(sgn, at=ubound)
            elif len(zs) < 5:  # too few points: half steps in between
                last, half = step - 1, 0.5
                while (half := half + 1) < last:
                    onestep(sgn, half)
    except Better as better:
        return better.fit
    order = np.argsort(values, kind="stable")
    return Profile(np.asarray(zs)[order], np.asarray(values)[order])


def confint(problem: Problem, fit: Fit, which: int, level: float = 0.95) -> tuple[float, float] | Fit:
    """confint(fit, parm) by bbmle's spline method: the parameter where the profile's signed
    root deviance crosses the normal quantiles; or the better Fit the profile found."""
    prof = profile(problem, fit, which)
    if isinstance(prof, Fit):
        return prof
    cutoff = stats.norm.ppf([(1 - level) / 2, (1 + level) / 2])
    if (np.diff(prof.z) < 0).any():  # non-monotonic profile: linear interpolation
        ends = approx(prof.z, prof.values, cutoff)
    else:
        sx, sy = fmm_spline(prof.values, prof.z)
        ends = approx(prof.z, prof.values, cutoff) if (np.diff(sy) < 0).any() else approx(sy, sx, cutoff)
    if not np.isnan(ends).any():
        ends = np.sort(ends)
    return float(ends[0]), float(ends[1])
