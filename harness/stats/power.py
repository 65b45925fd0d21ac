"""Planning: how many tasks and repeats a paired comparison needs (Miller 2024, Eq. 9–10),
the minimum detectable effect of a design, and estimates of ω² and σ² from a pilot.

n_tasks = (z_{α/2} + z_β)² · (ω² + σ_A²/K_A + σ_B²/K_B) / δ²
with ω² the across-task variance of the true per-task difference and σ² the mean
within-task (trial-to-trial) variance of a profile.

That normal formula undercounts when the test is a t-test on few tasks, so the task counts
printed iterate on the noncentral t (Julious 2004, Stat Med 23:1921): the smallest n with
P(|T_{n−1}(δ√n/√v)| > t_{n−1, α/2}) ≥ power. A plan for a report that adjusts a family of m
tests by Holm is made at α/m: Holm's first step, hence a lower bound on its power for any one
comparison (exact when the other hypotheses are true, the least favourable case).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


def z_sum(alpha: float, power: float, two_sided: bool = True) -> float:
    return float(stats.norm.ppf(1 - alpha / (2 if two_sided else 1)) + stats.norm.ppf(power))


def design_variance(omega2: float, sigma2_a: float, sigma2_b: float, k_a: float, k_b: float) -> float:
    """Variance of one task's observed mean difference: ω² + σ_A²/K_A + σ_B²/K_B."""
    return omega2 + sigma2_a / k_a + sigma2_b / k_b


def tasks_needed(omega2: float, sigma2_a: float, sigma2_b: float, k_a: float, k_b: float,
                 delta: float, alpha: float = 0.05, power: float = 0.8, two_sided: bool = True) -> int:
    """Miller Eq. 9: tasks to detect a true difference ``delta`` (a proportion, 0.03 = 3 points)."""
    if delta <= 0:
        raise ValueError("delta must be positive")
    v = design_variance(omega2, sigma2_a, sigma2_b, k_a, k_b)
    return max(2, math.ceil(z_sum(alpha, power, two_sided) ** 2 * v / delta**2 - 1e-9))


def minimum_detectable_effect(omega2: float, sigma2_a: float, sigma2_b: float, k_a: float,
                              k_b: float, n_tasks: int, alpha: float = 0.05, power: float = 0.8,
                              two_sided: bool = True) -> float:
    """Miller Eq. 9 solved for δ: the smallest true difference detected with ``power``."""
    v = design_variance(omega2, sigma2_a, sigma2_b, k_a, k_b)
    return z_sum(alpha, power, two_sided) * math.sqrt(v / n_tasks)


def repeats_needed(omega2: float, sigma2_a: float, sigma2_b: float, n_tasks: int, delta: float,
                   alpha: float = 0.05, power: float = 0.8, two_sided: bool = True) -> int | None:
    """Repeats K (same in both arms) that reach ``delta`` with ``n_tasks`` tasks; None when no
    number of repeats can, because ω² alone needs more tasks (Miller Eq. 10's lesson)."""
    room = n_tasks * delta**2 / z_sum(alpha, power, two_sided) ** 2 - omega2
    within = sigma2_a + sigma2_b
    if within <= 0:
        return 1 if room >= 0 else None
    if room <= 0:
        return None
    return max(1, math.ceil(within / room - 1e-9))


def tost_power(v: float, n_tasks: float, diff: float, margin: float, alpha: float = 0.05) -> float:
    """Normal-approximation power of TOST (each one-sided test at ``alpha``) with ``n_tasks``
    tasks whose per-task differences have variance ``v``, when the true difference is ``diff``."""
    se = math.sqrt(max(v, 0.0) / n_tasks)
    if se == 0:  # no variance at all: the observed difference is the true one
        return 1.0 if abs(diff) < margin else 0.0
    z = stats.norm.ppf(1 - alpha)
    both = stats.norm.cdf((margin - diff) / se - z) + stats.norm.cdf((margin + diff) / se - z)
    return max(0.0, float(both) - 1)


def tost_tasks_needed(v: float, diff: float, margin: float, alpha: float = 0.05,
                      power: float = 0.8) -> int | None:
    """Fewest tasks for TOST to show equivalence within ±``margin`` with ``power`` when the
    true difference is ``diff``; None when |diff| ≥ margin. At diff = 0 this is
    (z_α + z_β/2)² v / margin² (both one-sided tests must pass), near the margin
    (z_α + z_β)² v / (margin − |diff|)²: the Miller formula with z_β alone undercounts at 0."""
    if abs(diff) >= margin:
        return None
    if v <= 0:
        return 2
    hi = 2
    while tost_power(v, hi, diff, margin, alpha) < power:
        hi *= 2
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if tost_power(v, mid, diff, margin, alpha) >= power else (mid, hi)
    return max(2, hi)


def tost_repeats_needed(omega2: float, sigma2_a: float, sigma2_b: float, n_tasks: int, diff: float,
                        margin: float, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Repeats K (both arms) for TOST with ``n_tasks`` tasks; None if no K can (ω² too large)."""
    if abs(diff) >= margin or tost_power(omega2, n_tasks, diff, margin, alpha) < power:
        return None
    k = 1
    while tost_power(design_variance(omega2, sigma2_a, sigma2_b, k, k), n_tasks, diff, margin, alpha) < power:
        k *= 2
    lo = k // 2
    while k - lo > 1:
        mid = (lo + k) // 2
        ok = tost_power(design_variance(omega2, sigma2_a, sigma2_b, mid, mid), n_tasks, diff, margin,
                        alpha) >= power
        lo, k = (lo, mid) if ok else (mid, k)
    return max(1, k)


def t_power(v: float, n_tasks: int, delta: float, alpha: float = 0.05, two_sided: bool = True) -> float:
    """Power of the paired t-test on ``n_tasks`` per-task differences of variance ``v`` when the
    true mean difference is ``delta`` (noncentral t, n − 1 df)."""
    if n_tasks < 2:
        return 0.0
    if v <= 0:
        return 1.0 if delta != 0 else alpha
    df = n_tasks - 1
    ncp = abs(delta) * math.sqrt(n_tasks / v)
    crit = float(stats.t.ppf(1 - alpha / (2 if two_sided else 1), df))
    pw = float(stats.nct.sf(crit, df, ncp))
    if two_sided:
        pw += float(stats.nct.cdf(-crit, df, ncp))
    return pw


def t_tasks_needed(v: float, delta: float, alpha: float = 0.05, power: float = 0.8,
                   two_sided: bool = True) -> int:
    """Fewest tasks for the paired t-test to reach ``power`` (noncentral t; starts from Miller's
    normal formula and steps up, since the t needs a little more)."""
    if delta == 0:
        raise ValueError("delta must be non-zero")
    if v <= 0:
        return 2
    n = max(2, math.ceil(z_sum(alpha, power, two_sided) ** 2 * v / delta**2 - 1e-9))
    while t_power(v, n, delta, alpha, two_sided) < power:
        n += 1 if n < 1000 else max(1, n // 1000)
    while n > 2 and t_power(v, n - 1, delta, alpha, two_sided) >= power:
        n -= 1
    return n


def t_minimum_detectable(v: float, n_tasks: int, alpha: float = 0.05, power: float = 0.8,
                         two_sided: bool = True) -> float:
    """Smallest true difference the paired t-test detects with ``power`` (noncentral t)."""
    if n_tasks < 2:
        return float("nan")
    if v <= 0:
        return 0.0
    lo, hi = 0.0, 10 * math.sqrt(v)
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_power(v, n_tasks, mid, alpha, two_sided) < power else (lo, mid)
    return hi


def t_repeats_needed(omega2: float, sigma2_a: float, sigma2_b: float, n_tasks: int, delta: float,
                     alpha: float = 0.05, power: float = 0.8, two_sided: bool = True,
                     max_repeats: int = 10_000) -> int | None:
    """Repeats K (both arms) for the paired t-test with ``n_tasks`` tasks; None if none can."""
    if t_power(omega2, n_tasks, delta, alpha, two_sided) < power:
        return None
    for k in range(1, max_repeats + 1):
        if t_power(design_variance(omega2, sigma2_a, sigma2_b, k, k), n_tasks, delta, alpha,
                   two_sided) >= power:
            return k
    return None


def bernoulli_sigma2(base_rate: float) -> float:
    """Within-task variance of one 0/1 trial at a mean rate p: p(1 − p), an upper bound on the
    mean of p_i(1 − p_i) over tasks (it exceeds it by the variance of the task rates)."""
    return base_rate * (1 - base_rate)


def trials_per_arm_unpaired(p1: float, p2: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Two independent proportions (pooled-variance normal formula, Fleiss): trials per arm."""
    za, zb = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    pbar = (p1 + p2) / 2
    num = za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(num**2 / (p1 - p2) ** 2)


@dataclass(frozen=True)
class VarianceComponents:
    omega2: float
    sigma2_a: float
    sigma2_b: float
    k_a: float
    k_b: float
    n_tasks: int
    note: str | None = None


def estimate_components(events_a: np.ndarray, n_a: np.ndarray, events_b: np.ndarray,
                        n_b: np.ndarray) -> VarianceComponents:
    """ω² and σ² from per-task counts of two profiles (tasks with trials in both).

    σ² = mean over tasks of the unbiased within-task Bernoulli variance p(1−p)·K/(K−1);
    ω² = Var(observed per-task differences) − mean_i(s²_A,i/K_A,i + s²_B,i/K_B,i), floored at 0:
    the sampling variance of task i's observed difference is its own σ²ᵢ/Kᵢ, and when K differs
    by task the mean of those is not σ²/mean(K) (that under-subtracted 3–5×).
    With K = 1 σ² cannot be separated from ω²: σ² is reported as 0 and ω² absorbs it.
    """
    ea, na, eb, nb = (np.asarray(v, dtype=float) for v in (events_a, n_a, events_b, n_b))
    ok = (na > 0) & (nb > 0)
    ea, na, eb, nb = ea[ok], na[ok], eb[ok], nb[ok]
    n = int(ok.sum())
    if n < 2:
        raise ValueError("need at least two tasks with trials in both profiles")
    pa, pb = ea / na, eb / nb
    ka, kb = float(na.mean()), float(nb.mean())
    note = None
    with np.errstate(invalid="ignore", divide="ignore"):
        wa = np.where(na > 1, pa * (1 - pa) * na / (na - 1), np.nan)
        wb = np.where(nb > 1, pb * (1 - pb) * nb / (nb - 1), np.nan)
    if np.isfinite(wa).any() and np.isfinite(wb).any():
        s2a, s2b = float(np.nanmean(wa)), float(np.nanmean(wb))
    else:
        s2a = s2b = 0.0
        note = "one trial per task: σ² cannot be separated from ω², which absorbs it"
    var_d = float(np.var(pa - pb, ddof=1))
    if note is None:
        # per task: its unbiased within variance over its own K (tasks with K = 1 take the mean σ²)
        ia = np.where(np.isfinite(wa), wa, s2a) / na
        ib = np.where(np.isfinite(wb), wb, s2b) / nb
        noise = float(np.mean(ia + ib))
    else:
        noise = 0.0
    omega2 = max(var_d - noise, 0.0)
    return VarianceComponents(omega2, s2a, s2b, ka, kb, n, note)
