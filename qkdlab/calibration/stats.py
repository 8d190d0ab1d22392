"""Confidence bounds used by calibration, each with the failure probability it spends.

Methods (stated in every ``Bound.method`` they produce):

- counts: Clopper-Pearson exact binomial bounds (``scipy.stats.beta`` quantiles), one- or
  two-sided; exact coverage ≥ 1 - failure for any true probability;
- repeated power readings: Student-t bounds on the mean (independent Gaussian noise assumed;
  the scans interleave readings so slow drifts do not masquerade as noise);
- fitted power data: least squares (``scipy.optimize.curve_fit``) with the parameter covariance
  scaled by the residual variance, and Student-t quantiles with n - p degrees of freedom; derived
  quantities by Monte Carlo over the fitted parameters' Gaussian distribution.

Several bounds made together (e.g. one per setting) split their failure probability equally
(Bonferroni), so the union of their failures stays within what was asked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

__all__ = ["clopper_pearson", "mean_bounds", "t_quantile", "normal_quantile"]


def clopper_pearson(k: int, n: int, failure: float, side: str = "two") -> tuple[float, float]:
    """Bounds (lower, upper) on a binomial probability from k successes in n trials.

    ``side``: "two" (failure/2 on each side), "upper" or "lower" (the other side is 0 or 1).
    """
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= k <= n:
        raise ValueError(f"clopper_pearson: need 0 <= k <= n, got k={k}, n={n}")
    tail = failure / 2 if side == "two" else failure
    lower = 0.0 if k == 0 or side == "upper" else float(stats.beta.ppf(tail, k, n - k + 1))
    upper = 1.0 if k == n or side == "lower" else float(stats.beta.ppf(1 - tail, k + 1, n - k))
    return lower, upper


def t_quantile(failure: float, dof: int, side: str = "two") -> float:
    """Student-t quantile for a bound of the given side(s) and failure probability."""
    tail = failure / 2 if side == "two" else failure
    return float(stats.t.ppf(1 - tail, max(dof, 1)))


def normal_quantile(failure: float, side: str = "two") -> float:
    tail = failure / 2 if side == "two" else failure
    return float(stats.norm.ppf(1 - tail))


def mean_bounds(samples: Sequence[float] | np.ndarray, failure: float, side: str = "two") -> tuple[float, float, float]:
    """(mean, lower, upper) of the mean of independent readings (Student t); one-sided sides give ±inf."""
    x = np.asarray(samples, dtype=float)
    x = x[np.isfinite(x)]
    if x.size < 2:
        raise ValueError("mean_bounds needs at least two readings")
    mean = float(x.mean())
    half = t_quantile(failure, x.size - 1, side) * float(x.std(ddof=1)) / math.sqrt(x.size)
    lower = mean - half if side in ("two", "lower") else -math.inf
    upper = mean + half if side in ("two", "upper") else math.inf
    return mean, lower, upper
