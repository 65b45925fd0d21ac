"""Trend over ordered limits: Page's L and per-task slopes (task-aware), Cochran–Armitage
(trial-level reference: assumes independent trials, too optimistic with K > 1)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import stats

EXACT_PAGE_LEVELS = 6  # up to 720 orderings per task
EXACT_PAGE_ROWS = 60  # tasks with any spread; above this the normal approximation is used


@dataclass(frozen=True)
class PageResult:
    L: float
    p: float  # one-sided: values rise along the given column order
    method: str
    n_tasks: int


@dataclass(frozen=True)
class SlopeResult:
    mean_slope_per_doubling: float  # mean over tasks of d(rate)/d(log2 multiplier)
    se: float
    p: float  # two-sided, ttest_1samp(slopes, 0)
    n_tasks: int


@dataclass(frozen=True)
class ArmitageResult:
    z: float
    p: float  # two-sided
    p_increasing: float


def page_l(matrix: np.ndarray) -> PageResult | None:
    """Page (1963) L on a tasks × ordered-levels matrix; rows with a NaN are dropped; None when
    fewer than 3 levels or 2 complete tasks.

    Rates of one task tie often (0/0/0, 1/1/1), and the no-ties null of scipy's
    page_trend_test then makes L almost never fire (0–2 % size). Here each row is mid-ranked
    and L is referred to its exact permutation moments given the ties: under H0 each row's
    ranks are a random permutation, so E[L] = Σ_i r̄_i Σ_j j and
    Var[L] = Σ_i S²_i · Σ_j (j − j̄)² / (k − 1), S²_i = Σ_j (r_ij − r̄_i)² (the variance of a
    linear permutation statistic; Hollander, Wolfe & Chicken 2014, §7.2 ties), with a normal
    approximation (rows with every level tied carry no information and drop out)."""
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2:
        return None
    m = m[np.isfinite(m).all(axis=1)]
    if m.shape[1] < 3 or m.shape[0] < 2:
        return None
    k = m.shape[1]
    r = stats.rankdata(m, axis=1)
    j = np.arange(1, k + 1, dtype=float)
    big_l = float((r @ j).sum())
    mean = float(r.mean(axis=1).sum() * j.sum())
    s2 = ((r - r.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    var = float(s2.sum() * ((j - j.mean()) ** 2).sum() / (k - 1))
    if var <= 0:
        return PageResult(big_l, 1.0, "every task tied across the levels: no test", int(m.shape[0]))
    live = r[s2 > 0]
    if k <= EXACT_PAGE_LEVELS and live.shape[0] <= EXACT_PAGE_ROWS:
        return PageResult(big_l, _page_exact_p(live, big_l - float((r[s2 == 0] @ j).sum())),
                          "exact permutation distribution given the ties", int(m.shape[0]))
    z = (big_l - mean) / np.sqrt(var)
    return PageResult(big_l, float(stats.norm.sf(z)), "normal, tie-corrected permutation variance",
                      int(m.shape[0]))


def _page_exact_p(ranks: np.ndarray, observed: float) -> float:
    """P(L ≥ observed) when each row's (mid)ranks are permuted independently and uniformly:
    the convolution of the rows' distributions of Σ_j j·r_π(j) (in half-units: integers)."""
    k = ranks.shape[1]
    perms = np.array(list(itertools.permutations(range(k))))
    j2 = 2 * np.arange(1, k + 1)
    dist = np.ones(1)
    base = 0
    for row in ranks:
        vals = np.rint((row[perms] * j2).sum(axis=1)).astype(np.int64)  # 2·Σ j r_π(j), integers
        lo = int(vals.min())
        pmf = np.bincount(vals - lo).astype(float) / vals.size
        dist = np.convolve(dist, pmf)
        base += lo
    start = int(np.ceil(2 * observed - 1e-6)) - base
    return float(min(1.0, dist[max(start, 0):].sum()))


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
