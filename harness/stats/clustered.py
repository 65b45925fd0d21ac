"""Per-profile rates with task-clustered standard errors (Miller 2024, §2–3) and Wilson intervals.

The rate of a profile is the mean over tasks of the per-task rate; its standard error is
sd(per-task rates, ddof=1) / sqrt(n_tasks). Intervals use Student's t with n_tasks − 1
degrees of freedom (→ the normal 1.96 for many tasks), clipped to [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass
class RateEstimates:
    """Column-wise estimates for a (tasks × profiles) matrix of per-task rates (NaN = absent)."""

    mean: np.ndarray
    se: np.ndarray  # NaN when fewer than two tasks
    ci_low: np.ndarray
    ci_high: np.ndarray
    n_tasks: np.ndarray


def clustered_rates(rates: np.ndarray, confidence: float = 0.95) -> RateEstimates:
    """Mean over tasks, clustered SE and t interval for each column of ``rates``."""
    rates = np.atleast_2d(np.asarray(rates, dtype=float))
    ok = np.isfinite(rates)
    n = ok.sum(axis=0)
    filled = np.where(ok, rates, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=0) / n
        dev = np.where(ok, rates - mean, 0.0)
        var = (dev**2).sum(axis=0) / (n - 1)
        se = np.sqrt(var / n)
    se = np.where(n >= 2, se, np.nan)
    mean = np.where(n >= 1, mean, np.nan)
    tq = stats.t.ppf(0.5 + confidence / 2, np.maximum(n - 1, 1))
    low = np.clip(mean - tq * se, 0.0, 1.0)
    high = np.clip(mean + tq * se, 0.0, 1.0)
    # Every task at the same rate (e.g. all pass): the t interval has zero width. Use instead the
    # distribution-free bound that at most a share u = 1 − (α/2)^(1/n) of tasks differs (for all
    # tasks at 1 this is the Clopper–Pearson interval on tasks, [(α/2)^(1/n), 1]).
    with np.errstate(invalid="ignore", divide="ignore"):
        u = 1.0 - ((1.0 - confidence) / 2) ** (1.0 / n)
    flat = (n >= 2) & (se == 0.0)
    low = np.where(flat, mean * (1.0 - u), low)
    high = np.where(flat, mean + u * (1.0 - mean), high)
    return RateEstimates(mean=mean, se=se, ci_low=low, ci_high=high, n_tasks=n)


def wilson_ci(k: np.ndarray | int, n: np.ndarray | int, confidence: float = 0.95
              ) -> tuple[np.ndarray, np.ndarray]:
    """Wilson (1927) score interval for k successes in n independent trials (no continuity
    correction); the same as ``binomtest(k, n).proportion_ci(method="wilson")``."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    z = stats.norm.ppf(0.5 + confidence / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    low = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
    high = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    return low, high


def naive_se(k: np.ndarray | int, n: np.ndarray | int) -> np.ndarray:
    """Binomial SE sqrt(p(1−p)/n) that treats every trial as independent (too narrow with K > 1)."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        return np.where(n > 0, np.sqrt(p * (1 - p) / n), np.nan)
