"""Trend over ordered limits: Page's L and per-task slopes (task-aware), Cochran–Armitage
(trial-level reference: assumes independent trials, too optimistic with K > 1)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass
class PageResult:
    L: float
    p: float  # one-sided: values rise along the given column order
    method: str
    n_tasks: int


@dataclass
class SlopeResult:
    mean_slope_per_doubling: float  # mean over tasks of d(rate)/d(log2 multiplier)
    se: float
    p: float  # two-sided, ttest_1samp(slopes, 0)
    n_tasks: int


@dataclass
class ArmitageResult:
    z: float
    p: float  # two-sided
    p_increasing: float


def page_l(matrix: np.ndarray) -> PageResult | None:
    """Page (1963) L on a tasks × ordered-levels matrix; rows with a NaN are dropped.
    None when fewer than 3 levels or 2 complete tasks; ties are mid-ranked (conservative)."""
    m = np.asarray(matrix, dtype=float)
    m = m[np.isfinite(m).all(axis=1)]
    if m.ndim != 2 or m.shape[1] < 3 or m.shape[0] < 2:
        return None
    res = stats.page_trend_test(m, method="asymptotic" if m.shape[0] > 12 else "auto")
    return PageResult(float(res.statistic), float(res.pvalue), str(res.method), int(m.shape[0]))


def slope_test(matrix: np.ndarray, x: np.ndarray) -> SlopeResult | None:
    """OLS slope of each task's rates against ``x`` (log2 multiplier), then a one-sample t-test.
    Only tasks with every level present; None when fewer than 2 distinct x or 2 tasks."""
    m = np.asarray(matrix, dtype=float)
    x = np.asarray(x, dtype=float)
    m = m[np.isfinite(m).all(axis=1)]
    if np.unique(x).size < 2 or m.shape[0] < 2:
        return None
    xc = x - x.mean()
    slopes = (m - m.mean(axis=1, keepdims=True)) @ xc / (xc @ xc)
    n = slopes.size
    mean = float(slopes.mean())
    sd = float(slopes.std(ddof=1))
    if sd == 0.0:
        p = 1.0 if mean == 0.0 else float(stats.binomtest(int((slopes > 0).sum()), n).pvalue)
        return SlopeResult(mean, 0.0, p, n)
    return SlopeResult(mean, sd / np.sqrt(n), float(stats.ttest_1samp(slopes, 0.0).pvalue), n)


def cochran_armitage(events: np.ndarray, totals: np.ndarray, scores: np.ndarray) -> ArmitageResult | None:
    """Cochran–Armitage test for a linear trend of event proportions over scored groups."""
    r = np.asarray(events, dtype=float)
    n = np.asarray(totals, dtype=float)
    x = np.asarray(scores, dtype=float)
    big_n = n.sum()
    if big_n == 0 or np.unique(x[n > 0]).size < 2:
        return None
    pbar = r.sum() / big_n
    t = float((x * (r - n * pbar)).sum())
    var = pbar * (1 - pbar) * ((n * x**2).sum() - (n * x).sum() ** 2 / big_n)
    if var <= 0:
        return ArmitageResult(0.0, 1.0, 0.5)
    z = t / np.sqrt(var)
    return ArmitageResult(float(z), float(2 * stats.norm.sf(abs(z))), float(stats.norm.sf(z)))
