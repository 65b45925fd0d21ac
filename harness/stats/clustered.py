"""Per-profile rates with task-clustered standard errors (Miller 2024, §2–3) and Wilson intervals.

The rate of a profile is the mean over tasks of the per-task rate; its standard error is
sd(per-task rates, ddof=1) / sqrt(n_tasks). Success intervals use Student's t with n_tasks − 1
degrees of freedom, clipped to [0, 1] (they cover: success rates are spread over [0, 1]).

Infra-error rates are skewed (most tasks have none), and a symmetric t interval misses on the
upper side. `korn_graubard` gives Clopper–Pearson with the effective sample size
n* = p(1 − p)/Var(p̂), df-adjusted (Korn & Graubard 1998, Survey Methodology 24:193–201):
asymmetric, never below 0, and conservative where only a handful of tasks carry the errors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
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


def korn_graubard(rates: np.ndarray, confidence: float = 0.95) -> RateEstimates:
    """Column-wise mean of per-task rates with Korn–Graubard intervals (see module doc).

    The clustered variance gives n* = p(1 − p)/v (n_tasks when v = 0 or p ∈ {0, 1}), scaled by
    (z/t_{n−1})² for the few-cluster degrees of freedom; the interval is Clopper–Pearson for
    x* = n*·p events in n* trials (beta quantiles, which take non-integer counts)."""
    est = clustered_rates(rates, confidence)
    p, n = est.mean, est.n_tasks.astype(float)
    a = 1.0 - confidence
    with np.errstate(invalid="ignore", divide="ignore"):
        v = est.se**2
        neff = np.where((v > 0) & (p > 0) & (p < 1), p * (1 - p) / v, n)
        neff = neff * (stats.norm.ppf(1 - a / 2) / stats.t.ppf(1 - a / 2, np.maximum(n - 1, 1))) ** 2
        x = neff * p
        low = np.where(x > 0, stats.beta.ppf(a / 2, x, neff - x + 1), 0.0)
        high = np.where(x < neff, stats.beta.ppf(1 - a / 2, x + 1, neff - x), 1.0)
    ok = n >= 2
    low = np.where(ok, np.nan_to_num(low, nan=0.0), np.nan)
    high = np.where(ok, np.nan_to_num(high, nan=1.0), np.nan)
    return RateEstimates(mean=est.mean, se=est.se, ci_low=low, ci_high=high, n_tasks=est.n_tasks)


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
