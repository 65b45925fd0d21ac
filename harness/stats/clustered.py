"""Per-profile rates with task-clustered standard errors (Miller 2024, §2–3) and Wilson intervals.

The rate of a profile is the mean over tasks of the per-task rate; its standard error is
sd(per-task rates, ddof=1) / sqrt(n_tasks). Success intervals use Student's t with n_tasks − 1
degrees of freedom, clipped to [0, 1] (they cover: success rates are spread over [0, 1]).

Infra-error rates are skewed (most tasks have none), and a symmetric t interval misses on the
upper side. `korn_graubard` is Korn & Graubard's (1998, Survey Methodology 24:193–201) interval:
a binomial interval at the effective sample size n* = p(1 − p)/Var(p̂), df-adjusted, with
three choices measured in scripts/validate_stats.py (--grid: 30–200 tasks, K 3 and 10):
- n* is at most the binomial sample size of a mean of per-task rates, n²/Σ1/Kᵢ (the trials,
  when K is equal), and is that size when p̂ is 0 or 1: no variance to estimate a design
  effect from, so none is assumed (as svypd, after Dean & Pagano 2015, does). Counting tasks instead
  made every zero-error sweep cover, 98.9 % at 30 tasks × 3.
- the degrees of freedom are Satterthwaite's (1946) for Var(p̂) = w + b: w = p(1 − p)/n_bin
  is fixed by p̂, and b, the between-task part, rests on the m tasks that had errors, so
  df = (m − 1)(Var/b)², at most n − 1; n* stays at least n (df n − 1), since a per-task rate
  in [0, 1] with mean p varies at most p(1 − p). With n − 1 alone, sweeps where one to three tasks
  carry all errors made the truth lie above the interval 5.3–5.9 % of the time at 30 tasks × 10.
- the upper bound is Clopper–Pearson (exact: it never understates the rate at its α/2 under
  the effective binomial), the lower one Jeffreys (Brown, Cai & DasGupta 2001): the
  Clopper–Pearson lower bound missed only 0.5–1.9 % where 2.5 % is nominal, and the interval
  over-covered, up to 97.7 %.
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


def korn_graubard(rates: np.ndarray, trials: np.ndarray, confidence: float = 0.95) -> RateEstimates:
    """Column-wise mean of per-task rates with Korn–Graubard intervals (see the module doc);
    ``trials`` holds each cell's trial count (same shape as ``rates``)."""
    rates = np.atleast_2d(np.asarray(rates, dtype=float))
    trials = np.atleast_2d(np.asarray(trials, dtype=float))
    est = clustered_rates(rates, confidence)
    p, n = est.mean, est.n_tasks.astype(float)
    present = np.isfinite(rates) & (trials > 0)
    m = (np.where(present, rates, 0.0) > 0).sum(axis=0)  # tasks with an error
    a = 1.0 - confidence
    with np.errstate(invalid="ignore", divide="ignore"):
        n_bin = n**2 / np.where(present, 1.0 / np.where(present, trials, 1.0), 0.0).sum(axis=0)
        v = est.se**2
        estimated = (v > 0) & (p > 0) & (p < 1)
        b = v - p * (1 - p) / n_bin
        df = np.where(estimated & (b > 0), np.minimum(n - 1, np.maximum(m - 1, 1) * (v / b) ** 2), n - 1)
        z = stats.norm.ppf(1 - a / 2)
        shrink = (z / stats.t.ppf(1 - a / 2, np.maximum(df, 1))) ** 2
        # never below the tasks: a rate in [0, 1] with mean p varies at most p(1 − p)
        floor = n * (z / stats.t.ppf(1 - a / 2, np.maximum(n - 1, 1))) ** 2
        neff = np.where(estimated, np.maximum(np.minimum(p * (1 - p) / v, n_bin) * shrink, floor), n_bin)
        x = neff * p
        low = np.where(x > 0, stats.beta.ppf(a / 2, x + 0.5, neff - x + 0.5), 0.0)
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
