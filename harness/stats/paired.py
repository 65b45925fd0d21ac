"""Paired per-task differences (Miller 2024, Eq. 7), McNemar for K = 1, and Holm's adjustment."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

PAIRED_T = "paired t-test on per-task differences"
MCNEMAR = "exact McNemar (binomial test on discordant tasks; K = 1)"
SIGN = "sign test (all per-task differences equal)"


@dataclass
class PairedResult:
    """d_i = a_i − b_i over the tasks present in both; p-values are NaN when undefined."""

    n_tasks: int
    diff: float
    se: float
    ci_low: float
    ci_high: float
    p: float  # two-sided
    p_less: float  # H1: mean difference < 0
    p_greater: float  # H1: mean difference > 0
    test: str
    note: str | None = None

    @property
    def df(self) -> int:
        return max(self.n_tasks - 1, 1)


def paired_difference(a: np.ndarray, b: np.ndarray, alpha: float = 0.05,
                      single_trial: bool = False) -> PairedResult:
    """Mean of a − b over tasks where both are finite, with SE sd(d)/sqrt(n) and a 1 − α t interval.

    ``single_trial``: each per-task rate is one 0/1 trial (K = 1); the test is then the exact
    McNemar test ``binomtest(b, b + c, 0.5)`` on the discordant tasks.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    d = a[ok] - b[ok]
    n = int(d.size)
    nan = float("nan")
    if n == 0:
        return PairedResult(0, nan, nan, nan, nan, nan, nan, nan, "none", "no task ran under both")
    diff = float(d.mean())
    if n < 2:
        return PairedResult(n, diff, nan, nan, nan, nan, nan, nan, "none",
                            "one task: no standard error or test")
    sd = float(d.std(ddof=1))
    se = sd / np.sqrt(n)
    tq = float(stats.t.ppf(1 - alpha / 2, n - 1))
    low, high = max(diff - tq * se, -1.0), min(diff + tq * se, 1.0)
    if sd == 0.0:
        # Every d_i equals diff: zero spread is not zero uncertainty. Distribution-free bound
        # (d_i in [−1, 1], tasks independent): at most a share u of tasks can differ from diff,
        # u = 1 − (α/2)^(1/n), the Clopper–Pearson bound for 0 of n (see equivalence.tost).
        u = 1.0 - (alpha / 2) ** (1.0 / n)
        low, high = diff - u * (1.0 + diff), diff + u * (1.0 - diff)
    if single_trial:
        up, down = int((d > 0).sum()), int((d < 0).sum())
        p, pl, pg = _binom_p(up, up + down)
        return PairedResult(n, diff, se, low, high, p, pl, pg, MCNEMAR,
                            None if up + down else "no discordant task: p = 1")
    if sd == 0.0:
        if diff == 0.0:
            return PairedResult(n, 0.0, 0.0, low, high, 1.0, 1.0, 1.0, PAIRED_T,
                                "every per-task difference is 0: p = 1")
        up = int((d > 0).sum())
        p, pl, pg = _binom_p(up, n)
        return PairedResult(n, diff, 0.0, low, high, p, pl, pg, SIGN,
                            "zero variance of the differences: t undefined, sign test used")
    t = diff / se
    p = float(2 * stats.t.sf(abs(t), n - 1))
    return PairedResult(n, diff, se, low, high, p, float(stats.t.cdf(t, n - 1)),
                        float(stats.t.sf(t, n - 1)), PAIRED_T)


def _binom_p(k: int, n: int) -> tuple[float, float, float]:
    """Two-sided, P(H1: fewer up), P(H1: more up) of a fair-coin binomial test; 1 when n = 0."""
    if n == 0:
        return 1.0, 1.0, 1.0
    return (float(stats.binomtest(k, n, 0.5).pvalue),
            float(stats.binomtest(k, n, 0.5, alternative="less").pvalue),
            float(stats.binomtest(k, n, 0.5, alternative="greater").pvalue))


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for b and c discordant pairs."""
    return _binom_p(b, b + c)[0]


def holm(pvalues: np.ndarray | list[float]) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values; NaN entries stay NaN and do not count in m."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return out
    vals = p[ok]
    order = np.argsort(vals, kind="stable")
    adj = np.minimum(np.maximum.accumulate((m - np.arange(m)) * vals[order]), 1.0)
    res = np.empty(m)
    res[order] = adj
    out[ok] = res
    return out
