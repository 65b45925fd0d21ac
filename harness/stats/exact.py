"""Exact tests on 2×2 tables (sparse infra-error counts), odds ratios, and the overall
chi-square test across all profiles. These are trial-level: they treat trials as independent."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.stats.contingency import odds_ratio

# Boschloo's test is more powerful than Fisher's but enumerates all tables: use it while
# each arm is small enough to take a fraction of a second.
BOSCHLOO_MAX_ARM = 300
# The conditional (exact) odds-ratio interval gets slow for very large tables; above this
# many trials the sample odds ratio with Woolf's log interval is used (they then agree).
CONDITIONAL_OR_MAX = 40_000


@dataclass(frozen=True)
class TwoByTwo:
    """Events in arm A (profile) against arm B (baseline)."""

    test: str
    p: float  # two-sided
    p_less: float  # H1: A's event rate is lower than B's
    odds_ratio: float
    or_ci_low: float
    or_ci_high: float
    or_method: str


def compare_counts(events_a: int, n_a: int, events_b: int, n_b: int,
                   confidence: float = 0.95) -> TwoByTwo:
    """Exact test of two event rates (Boschloo for small arms, else Fisher) and the odds ratio."""
    table = np.array([[events_a, n_a - events_a], [events_b, n_b - events_b]], dtype=np.int64)
    nan = float("nan")
    if n_a == 0 or n_b == 0:
        return TwoByTwo("none", nan, nan, nan, nan, nan, "none")
    if events_a + events_b == 0 or events_a + events_b == n_a + n_b:
        p = pl = 1.0  # no event (or only events) in either arm: nothing to test
        test = "fisher_exact"
    elif max(n_a, n_b) <= BOSCHLOO_MAX_ARM:
        test = "boschloo_exact"
        # scipy's boschloo_exact takes each binomial sample (here: each arm) as a *column*;
        # the rows-as-arms table would fix the event totals instead and misstate the p-value.
        arms = table.T
        p = float(stats.boschloo_exact(arms, alternative="two-sided").pvalue)
        pl = float(stats.boschloo_exact(arms, alternative="less").pvalue)
    else:
        test = "fisher_exact"
        p = float(stats.fisher_exact(table, alternative="two-sided").pvalue)
        pl = float(stats.fisher_exact(table, alternative="less").pvalue)
    conditional = n_a + n_b <= CONDITIONAL_OR_MAX
    kind = "conditional" if conditional else "sample"
    try:
        res = odds_ratio(table, kind="conditional" if conditional else "sample")
        ci = res.confidence_interval(confidence_level=confidence)
        est, low, high = float(res.statistic), float(ci.low), float(ci.high)
    except (ValueError, ZeroDivisionError, FloatingPointError):
        est = low = high = nan
    method = "conditional MLE, exact interval" if kind == "conditional" else "sample, Woolf interval"
    return TwoByTwo(test, min(p, 1.0), min(pl, 1.0), est, low, high, method)


@dataclass(frozen=True)
class OverallTest:
    chi2: float
    dof: int
    p: float
    table: list[list[int]]
    note: str | None = None


def overall_test(counts: np.ndarray) -> OverallTest:
    """chi2_contingency on a profiles × {passed, task_failure, infra_error} count table.
    Columns or rows that are all zero are dropped first (they carry no information)."""
    counts = np.asarray(counts, dtype=np.int64)
    kept = counts[counts.sum(axis=1) > 0][:, counts.sum(axis=0) > 0]
    nan = float("nan")
    if kept.shape[0] < 2 or kept.shape[1] < 2:
        return OverallTest(nan, 0, nan, counts.tolist(),
                           "fewer than two profiles or only one outcome category: no test")
    res = stats.chi2_contingency(kept, correction=False)
    note = None
    if (res.expected_freq < 5).any():
        note = "some expected counts are below 5: the chi-square approximation is rough"
    return OverallTest(float(res.statistic), int(res.dof), float(res.pvalue), counts.tolist(), note)
