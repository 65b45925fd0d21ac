"""Paired per-task differences (Miller 2024, Eq. 7), McNemar for K = 1, the task-level sign-flip
permutation test, the MOVER interval for a difference of skewed rates, and Holm's adjustment."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

PAIRED_T = "paired t-test on per-task differences"
MCNEMAR = "mid-p McNemar (binomial test on discordant tasks; K = 1)"
SIGN_FLIP = "sign-flip permutation of per-task differences"
# Sign-flip test: exact enumeration up to this many non-zero differences, else Monte Carlo.
EXACT_FLIPS = 16
FLIP_DRAWS = 20_000
SIGN = "sign test (all per-task differences equal)"


@dataclass(frozen=True)
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

    ``single_trial``: each per-task rate is one 0/1 trial (K = 1); the test is then McNemar's
    on the discordant tasks, in its mid-p form (Fagerland, Lydersen & Laake 2013, BMC Med Res
    Methodol 13:91: the exact form's size is 1.7–4.4 % at α = 5 %; mid-p holds it near 5 %).
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
        p, pl, pg = _binom_midp(up, up + down)
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


def _binom_midp(k: int, n: int) -> tuple[float, float, float]:
    """Mid-p versions of `_binom_p`: half the probability of the observed count is left out."""
    if n == 0:
        return 1.0, 1.0, 1.0
    half = 0.5 * float(stats.binom.pmf(k, n, 0.5))
    less = float(stats.binom.cdf(k, n, 0.5)) - half
    greater = float(stats.binom.sf(k - 1, n, 0.5)) - half
    return min(1.0, 2 * min(less, greater)), less, greater


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for b and c discordant pairs."""
    return _binom_p(b, b + c)[0]


def mcnemar_midp(b: int, c: int) -> float:
    """Two-sided mid-p McNemar p-value (Fagerland et al. 2013): exact p − P(X = b)."""
    return _binom_midp(b, b + c)[0]


@dataclass(frozen=True)
class FlipResult:
    p: float  # two-sided
    p_less: float  # H1: mean difference < 0
    p_greater: float
    exact: bool  # full enumeration, else Monte Carlo with FLIP_DRAWS draws
    n_differ: int = 0  # tasks whose difference is not 0: the only ones that carry information

    @property
    def min_p(self) -> float:
        """The smallest two-sided mid-p attainable with this many differing tasks."""
        return 0.5 ** self.n_differ if self.n_differ else 1.0

    def describe(self) -> str:
        if self.n_differ == 0:
            return f"{SIGN_FLIP}: no task differs, p = 1"
        how = "exact" if self.exact else f"{FLIP_DRAWS} seeded draws"
        differ = "1 task differs" if self.n_differ == 1 else f"{self.n_differ} tasks differ"
        s = f"{SIGN_FLIP}, mid-p ({how}; {differ})"
        if self.min_p > 0.01:
            s += f": the smallest attainable p is about {self.min_p:.2g}"
        return s


def sign_flip_test(a: np.ndarray, b: np.ndarray) -> FlipResult:
    """Permutation test of a − b paired by task: under H0 the two profiles are exchangeable
    within a task, so each per-task difference is as likely to carry either sign (Fisher 1935;
    Good 2005, §3). Respects tasks, needs no normality (infra differences are mostly 0 and a
    few large): all 2^m sign patterns of the m non-zero differences up to EXACT_FLIPS, else
    FLIP_DRAWS seeded draws. With few tasks carrying infra errors the exact p-value is very
    conservative (size 0.3 % at 30 tasks), so it is given in its mid-p form, P(T > t) +
    ½·P(T = t) (Lancaster 1961; the form Fagerland et al. 2013 recommend for McNemar)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    d = a - b
    d = d[np.isfinite(d) & (d != 0)]
    m = d.size
    if m == 0:
        return FlipResult(1.0, 1.0, 1.0, True, 0)
    t = float(d.sum())
    tol = 1e-9 * float(np.abs(d).sum())
    if m <= EXACT_FLIPS:
        bits = ((np.arange(2**m)[:, None] >> np.arange(m)) & 1).astype(float)
        sums = (1 - 2 * bits) @ d
        total = float(sums.size)
        at = np.abs(sums - t) <= tol
        at2 = np.abs(np.abs(sums) - abs(t)) <= tol
        less = (float((sums < t - tol).sum()) + 0.5 * float(at.sum())) / total
        greater = (float((sums > t + tol).sum()) + 0.5 * float(at.sum())) / total
        two = (float((np.abs(sums) > abs(t) + tol).sum()) + 0.5 * float(at2.sum())) / total
        return FlipResult(min(1.0, two), less, greater, True, m)
    rng = np.random.default_rng(0x5EED)
    hits = np.zeros(3)
    for start in range(0, FLIP_DRAWS, 2000):
        draws = min(2000, FLIP_DRAWS - start)
        # one random bit per sign, drawn eight to a byte: Σ s_i d_i = Σ d − 2 Σ_{bit=1} d_i
        bits = np.unpackbits(rng.integers(0, 256, (draws, (m + 7) // 8), dtype=np.uint8), axis=1)[:, :m]
        sums = t - 2.0 * (bits.astype(np.float64) @ d)
        at = np.abs(sums - t) <= tol
        at2 = np.abs(np.abs(sums) - abs(t)) <= tol
        hits += [(sums < t - tol).sum() + 0.5 * at.sum(), (sums > t + tol).sum() + 0.5 * at.sum(),
                 (np.abs(sums) > abs(t) + tol).sum() + 0.5 * at2.sum()]
    pl, pg, p2 = (0.5 + hits) / (1 + FLIP_DRAWS)
    return FlipResult(float(min(1.0, p2)), float(pl), float(pg), False, m)


def mover_difference(a: np.ndarray, b: np.ndarray, a_low: float, a_high: float, b_low: float,
                     b_high: float) -> tuple[float, float]:
    """Interval for mean(a) − mean(b) over tasks present in both, from each rate's own
    (asymmetric) interval and the correlation r of the per-task rates: the MOVER of Zou &
    Donner (2008, Stat Med 27:1693), Newcombe's (1998) method 10 for paired rates.
    L = d − sqrt((a − l_a)² − 2r(a − l_a)(u_b − b) + (u_b − b)²), U symmetrically."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if a.size < 2:
        return float("nan"), float("nan")
    ma, mb = float(a.mean()), float(b.mean())
    sa, sb = float(a.std()), float(b.std())
    r = float(np.corrcoef(a, b)[0, 1]) if sa > 0 and sb > 0 else 0.0
    d = ma - mb
    lo = d - np.sqrt(max((ma - a_low) ** 2 - 2 * r * (ma - a_low) * (b_high - mb) + (b_high - mb) ** 2, 0.0))
    hi = d + np.sqrt(max((a_high - ma) ** 2 - 2 * r * (a_high - ma) * (mb - b_low) + (mb - b_low) ** 2, 0.0))
    return float(max(lo, -1.0)), float(min(hi, 1.0))


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
