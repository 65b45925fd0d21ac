"""Equivalence by two one-sided tests (TOST, Lakens 2017) and the calibrated band.

Verdicts: "equivalent" when the 1 − 2α interval of the paired difference lies inside
(−Δ, +Δ); otherwise "different" when the (Holm-adjusted) test of no difference rejects at
α; otherwise "inconclusive". A difference can be significant yet inside the margin: that
is reported as "equivalent" (the margin says it does not matter).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from harness.stats.paired import PairedResult

EQUIVALENT, DIFFERENT, INCONCLUSIVE = "equivalent", "different", "inconclusive"


@dataclass
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


@dataclass
class BandCandidate:
    profile: str
    multiplier: float
    equivalence: str  # success against the baseline
    infra_diff: float  # profile − baseline
    infra_lower_p_holm: float  # one-sided, Holm-adjusted over the candidates


@dataclass
class Band:
    profile: str | None
    verdict: str  # "recommended" | "none" | "inconclusive"
    reason: str
    unsettled: list[str] = field(default_factory=list)  # candidates more data could qualify


def calibrate_band(candidates: list[BandCandidate], alpha: float, margin: float,
                   baseline: str) -> Band:
    """The largest multiplier with success equivalent to the baseline and infra errors
    significantly lower; else "inconclusive" (more data could decide) or "none"."""
    pts = f"±{margin * 100:g} points"
    if not candidates:
        return Band(None, "none", f"no profile other than {baseline} has a limit multiplier")

    def lower(c: BandCandidate) -> bool:
        return bool(np.isfinite(c.infra_lower_p_holm) and c.infra_lower_p_holm < alpha)

    ranked = sorted(candidates, key=lambda c: c.multiplier)
    ok = [c for c in ranked if c.equivalence == EQUIVALENT and lower(c)]
    unsettled = [c.profile for c in ranked
                 if c.equivalence == INCONCLUSIVE
                 or (c.equivalence == EQUIVALENT and not lower(c) and c.infra_diff < 0)]
    if ok:
        best = ok[-1]
        reason = (f"{best.profile} is the largest limit whose success is equivalent to {baseline} "
                  f"within {pts} and whose infra errors are significantly lower "
                  f"(one-sided Holm p = {best.infra_lower_p_holm:.3g})")
        larger = [u for u in unsettled if _mult(ranked, u) > best.multiplier]
        if larger:
            reason += f"; larger limits ({', '.join(larger)}) are inconclusive and might also qualify"
        return Band(best.profile, "recommended", reason, larger)
    if unsettled:
        return Band(None, "inconclusive",
                    f"no limit qualifies yet: {', '.join(unsettled)} could, but the data cannot "
                    f"show success within {pts} of {baseline} and infra errors significantly lower",
                    unsettled)
    why = []
    for c in ranked:
        if c.equivalence == DIFFERENT:
            why.append(f"{c.profile}: success differs from {baseline}")
        elif not lower(c):
            why.append(f"{c.profile}: infra errors not lower than {baseline}")
    return Band(None, "none", "no limit qualifies (" + "; ".join(why) + ")")


def _mult(ranked: list[BandCandidate], profile: str) -> float:
    return next(c.multiplier for c in ranked if c.profile == profile)
