"""Equivalence by two one-sided tests (TOST, Lakens 2017) and the calibrated band.

Verdicts: "equivalent" when the 1 − 2α interval of the paired difference lies inside
(−Δ, +Δ); otherwise "different" when the (Holm-adjusted) test of no difference rejects at
α; otherwise "inconclusive". A difference can be significant yet inside the margin: that
is reported as "equivalent" (the margin says it does not matter).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from harness.stats.paired import PairedResult

EQUIVALENT, DIFFERENT, INCONCLUSIVE = "equivalent", "different", "inconclusive"


@dataclass(frozen=True)
class TostResult:
    ci_low: float  # the 1 − 2α interval
    ci_high: float
    p: float  # max of the two one-sided p-values; NaN when undefined
    equivalent: bool


def tost(paired: PairedResult, margin: float, alpha: float = 0.05) -> TostResult:
    """TOST of |mean difference| < margin on a paired result (t with n − 1 df)."""
    nan = float("nan")
    d, se, n = paired.diff, paired.se, paired.n_tasks
    if n < 2 or not np.isfinite(se):
        return TostResult(nan, nan, nan, False)
    if se == 0.0:
        return _tost_constant(d, n, margin, alpha)
    tq = float(stats.t.ppf(1 - alpha, n - 1))
    low, high = d - tq * se, d + tq * se
    p_low = float(stats.t.sf((d + margin) / se, n - 1))  # H0: diff <= −margin
    p_high = float(stats.t.cdf((d - margin) / se, n - 1))  # H0: diff >= +margin
    return TostResult(low, high, max(p_low, p_high), bool(low > -margin and high < margin))


def _tost_constant(d: float, n: int, margin: float, alpha: float) -> TostResult:
    """TOST when all n per-task differences equal d (zero sample variance: t is undefined, and
    zero observed spread does not show that the mean is pinned at d).

    Distribution-free, with tasks drawn independently and d_i in [−1, 1]: if the true mean were
    ≥ +margin, the share q of tasks with d_i = d satisfies q ≤ (1 − margin)/(1 − d), so seeing
    all n at d has probability ≤ ((1 − margin)/(1 − d))^n: that is the p-value of the upper
    test (symmetrically (1 − margin)/(1 + d) for the lower). The interval is the matching
    bound, u = 1 − α^(1/n) (Clopper–Pearson for 0 of n tasks differing from d). With d = 0
    this needs n > log(α)/log(1 − margin) tasks (≈ 3/margin, the rule of three).
    """
    u = 1.0 - alpha ** (1.0 / n)
    low, high = d - u * (1.0 + d), d + u * (1.0 - d)
    if abs(d) >= margin:
        return TostResult(low, high, 1.0, False)
    p = max(((1.0 - margin) / (1.0 - d)) ** n, ((1.0 - margin) / (1.0 + d)) ** n)
    return TostResult(low, high, float(p), bool(low > -margin and high < margin))


def verdict(equivalent: bool, p_adjusted: float, alpha: float) -> str:
    """"equivalent" (TOST) / "different" (adjusted p < α) / "inconclusive"."""
    if equivalent:
        return EQUIVALENT
    if np.isfinite(p_adjusted) and p_adjusted < alpha:
        return DIFFERENT
    return INCONCLUSIVE


@dataclass(frozen=True)
class BandCandidate:
    profile: str
    multiplier: float
    success_equivalent: bool  # TOST at α against the baseline (unadjusted: see calibrate_band)
    success_verdict: str  # the report's verdict, for the reason given
    infra_diff: float  # profile − baseline
    infra_lower_p: float  # one-sided, task-level (sign-flip), unadjusted


@dataclass(frozen=True)
class Band:
    profile: str | None
    verdict: str  # "recommended" | "none" | "inconclusive"
    reason: str
    unsettled: tuple[str, ...] = ()  # the candidate where the sequence stopped, if more data could pass it
    tested: tuple[str, ...] = ()  # candidates tested, in order (the sequence stops at the first failure)


def qualifies(c: BandCandidate, alpha: float) -> bool:
    """Success TOST-equivalent and infra errors significantly lower, each at α: an
    intersection–union test (Berger 1982), so the pair needs no adjustment of its own."""
    return bool(c.success_equivalent and np.isfinite(c.infra_lower_p) and c.infra_lower_p < alpha)


def calibrate_band(candidates: list[BandCandidate], alpha: float, margin: float,
                   baseline: str) -> Band:
    """Fixed-sequence test upward from the smallest multiplier above the baseline, stopping at
    the first candidate that does not qualify; the recommendation is the last one that did.

    Every candidate is tested at the full α and the chance of recommending any limit that does
    not truly qualify stays ≤ α (Maurer, Hothorn & Lehmacher 1995; Hsu & Berger 1999, JASA
    94:468). Taking the largest of candidates each tested on its own, as before, let the error
    grow with their number (15–17 % with four candidates at the margin)."""
    pts = f"±{margin * 100:g} points"
    if not candidates:
        return Band(None, "none", f"no profile other than {baseline} has a limit multiplier")
    ranked = sorted(candidates, key=lambda c: c.multiplier)
    passed: list[BandCandidate] = []
    stop: BandCandidate | None = None
    for c in ranked:
        if not qualifies(c, alpha):
            stop = c
            break
        passed.append(c)
    tested = tuple(c.profile for c in passed) + ((stop.profile,) if stop else ())
    untested = [c.profile for c in ranked if c.profile not in tested]
    could = stop is not None and not _different(stop) and bool(
        (np.isfinite(stop.infra_lower_p) and stop.infra_lower_p < alpha)
        or (np.isfinite(stop.infra_diff) and stop.infra_diff < 0))
    why = "" if stop is None else _why(stop, alpha, baseline, pts)
    after = (f"; not tested ({', '.join(untested)}): the sequence stops at the first limit that "
             "does not qualify" if untested else "")
    if passed:
        best = passed[-1]
        reason = (f"{best.profile} is the largest limit in the upward sequence whose success is "
                  f"equivalent to {baseline} within {pts} and whose infra errors are significantly "
                  f"lower (one-sided task-level p = {best.infra_lower_p:.3g})")
        if stop is not None:
            reason += f"; the sequence stopped at {stop.profile} ({why})" + after
        return Band(best.profile, "recommended", reason, (stop.profile,) if could and stop else (),
                    tested)
    assert stop is not None
    if could:
        return Band(None, "inconclusive",
                    f"no limit qualifies yet: the sequence stopped at the first, {stop.profile} ({why}); "
                    "more data could settle it" + after, (stop.profile,), tested)
    return Band(None, "none", f"no limit qualifies: the first, {stop.profile}, does not ({why})" + after,
                (), tested)


def _different(c: BandCandidate) -> bool:
    return c.success_verdict == DIFFERENT


def _why(c: BandCandidate, alpha: float, baseline: str, pts: str) -> str:
    parts = []
    if not c.success_equivalent:
        parts.append(f"success differs from {baseline}" if _different(c)
                     else f"success not shown within {pts} of {baseline}")
    if not (np.isfinite(c.infra_lower_p) and c.infra_lower_p < alpha):
        parts.append(f"infra errors not significantly lower than {baseline}")
    return "; ".join(parts)
