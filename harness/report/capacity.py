"""What this many tasks and repeats can settle: printed before the tables, so that an
"inconclusive" reads as a property of the design, not of the harness."""

from __future__ import annotations

import math

import numpy as np

from harness.report.document import Capacity
from harness.stats.power import (
    estimate_components,
    t_minimum_detectable,
    tost_power,
    tost_repeats_needed,
    tost_tasks_needed,
)
from harness.stats.table import CellCounts

POWER = 0.8


def capacity(counts: CellCounts, b: int, margin: float, alpha: float) -> Capacity | None:
    """From the observed variance of per-task differences against the baseline (mean over the
    profiles): the minimum detectable differences under the report's rule (two-sided t at Holm's
    first-step α/m, m = the primary family), the smallest margin TOST can confirm when the true
    difference is 0, and the tasks or repeats the chosen margin needs."""
    others = [j for j in range(counts.n.shape[1]) if j != b]
    k = int(np.median(counts.n[counts.n > 0]))
    return from_pairs(counts, counts, [(j, b) for j in others], k, margin, alpha, 2 * len(others))


def from_pairs(a: CellCounts, b: CellCounts, pairs: list[tuple[int, int]], k: int, margin: float,
               alpha: float, family: int | None = None) -> Capacity | None:
    """`capacity` from column ja of ``a`` against column jb of ``b`` for each (ja, jb) with at
    least three tasks in both (the profiles of one sweep against its baseline, or one profile
    in two sweeps); ``family``: the primary family's size (default two tests per pair used)."""
    sa, sb, ia, ib = a.success_rates(), b.success_rates(), a.infra_rates(), b.infra_rates()
    vs, vi, om, sg, ns = [], [], [], [], []
    for ja, jb in pairs:
        ok = np.isfinite(sa[:, ja]) & np.isfinite(sb[:, jb])
        if ok.sum() < 3:
            continue
        vs.append(float(np.var(sa[ok, ja] - sb[ok, jb], ddof=1)))
        vi.append(float(np.var(ia[ok, ja] - ib[ok, jb], ddof=1)))
        ns.append(int(ok.sum()))
        try:
            vc = estimate_components(a.passed[:, ja], a.n[:, ja], b.passed[:, jb], b.n[:, jb])
            om.append(vc.omega2)
            sg.append((vc.sigma2_a + vc.sigma2_b) / 2)
        except ValueError:
            pass
    if not vs:
        return None
    m = family if family is not None else 2 * len(vs)
    return from_variances(vs, vi, om, sg, int(np.median(ns)), k, m, margin, alpha)


def from_variances(vs: list[float], vi: list[float], om: list[float], sg: list[float], n: int, k: int,
                   m: int, margin: float, alpha: float) -> Capacity:
    """`capacity` from the variances of per-task differences (one per comparison), ω² and σ²
    estimates, n tasks, K repeats and a primary family of m tests."""
    v_s, v_i = float(np.mean(vs)), float(np.mean(vi))
    a_m = alpha / m
    mdd_s = t_minimum_detectable(v_s, n, a_m, POWER)
    mdd_i = t_minimum_detectable(v_i, n, a_m, POWER)
    lo, hi = 0.0, 1.0
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if tost_power(v_s, n, 0.0, mid, alpha) < POWER else (lo, mid)
    reach = hi
    tasks = tost_tasks_needed(v_s, 0.0, margin, alpha, POWER)
    if v_s <= 0:
        # every per-task difference is equal: TOST falls back on the distribution-free bound
        # (equivalence.tost), which needs (1 − margin)^n < α
        reach = 1.0 - alpha ** (1.0 / n)
        tasks = math.ceil(math.log(alpha) / math.log(1.0 - margin) + 1e-9)
    reps = (tost_repeats_needed(float(np.mean(om)), float(np.mean(sg)), float(np.mean(sg)), n, 0.0,
                                margin, alpha, POWER) if om else None)
    ok = reach <= margin
    infra = (f"; so is an infra-error difference under {mdd_i * 100:.1f} points." if v_i > 0 else
             ". No task's infra-error rate differs between profiles here: the sweep says nothing "
             "about infra-error differences.")
    first = (f"With {n} tasks × {k} repeats, a true success difference under {mdd_s * 100:.1f} points is "
             f"likely to go undetected ({POWER:.0%} power, two-sided, Holm over {m} primary tests){infra}"
             if v_s > 0 else
             f"With {n} tasks × {k} repeats, every per-task success difference is the same here: "
             "the spread a test would need is not observed" + infra)
    summary = (
        first,
        (f"Equivalence within ±{margin * 100:g} points can be shown ({POWER:.0%} power if the true "
         f"difference is 0): the smallest margin this n can confirm is ±{reach * 100:.1f} points."
         if ok else
         f"Equivalence within ±{margin * 100:g} points cannot be shown at this n: the smallest margin "
         f"it can confirm is ±{reach * 100:.1f} points; ±{margin * 100:g} needs about {tasks} tasks"
         + (f" or {reps} repeats on these tasks" if reps else
            " (more repeats alone cannot: the spread between tasks dominates)") + "."),
    )
    return Capacity(n, k, m, POWER, v_s, v_i, mdd_s, mdd_i, reach, tasks, reps, ok, summary)
