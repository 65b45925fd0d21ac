"""Each profile against the baseline, the primary family's Holm adjustment, and the band."""

from __future__ import annotations

import dataclasses

import numpy as np

from harness.report.document import Comparison, Recommendation, Settle
from harness.stats.clustered import korn_graubard
from harness.stats.equivalence import (
    DIFFERENT,
    EQUIVALENT,
    INCONCLUSIVE,
    BandCandidate,
    calibrate_band,
    tost,
    verdict,
)
from harness.stats.exact import compare_counts
from harness.stats.paired import (
    PairedResult,
    holm,
    mover_difference,
    paired_difference,
    sign_flip_test,
)
from harness.stats.power import (
    design_variance,
    estimate_components,
    t_repeats_needed,
    t_tasks_needed,
    tost_repeats_needed,
    tost_tasks_needed,
)
from harness.stats.table import CellCounts

POWER = 0.8
NAN = float("nan")


def criterion(axis: str = "memory") -> str:
    """The band's rule, along the swept factor (memory, cpu or timeout)."""
    return (f"fixed sequence upward from the smallest {axis} multiplier above the baseline (the other "
            "factors as the baseline's), stopping at the first that does not qualify; a profile "
            "qualifies when its success is TOST-equivalent to the baseline and its infra errors are "
            "significantly lower (one-sided task-level sign-flip test), each at α (Hsu & Berger 1999)")


def comparisons(counts: CellCounts, names: list[str], b: int, margin: float, alpha: float,
                single: bool) -> list[Comparison]:
    """Every other profile against the baseline, paired by task, with Holm over the primary
    family (success and infra errors of every profile: 2·(profiles − 1) tests) applied."""
    s, i, x = counts.success_rates(), counts.infra_rates(), counts.success_rates_excluding_infra()
    n_tr, infra_tr = counts.n.sum(0), counts.infra.sum(0)
    raw = []
    for j, name in enumerate(names):
        if j == b:
            continue
        ps = paired_difference(s[:, j], s[:, b], alpha, single)
        pi = paired_difference(i[:, j], i[:, b], alpha, single)
        px = paired_difference(x[:, j], x[:, b], alpha, False)
        flip = sign_flip_test(i[:, j], i[:, b])
        ex = compare_counts(int(infra_tr[j]), int(n_tr[j]), int(infra_tr[b]), int(n_tr[b]), 1 - alpha)
        t = tost(ps, margin, alpha)
        raw.append(Comparison(
            profile=name, baseline=names[b], n_tasks=ps.n_tasks,
            success_diff=ps.diff, success_diff_se=ps.se, success_diff_ci=(ps.ci_low, ps.ci_high),
            success_p=ps.p, success_p_holm=NAN, success_test=ps.test, success_note=ps.note,
            success_tost_ci=(t.ci_low, t.ci_high), success_tost_p=t.p, tost_equivalent=t.equivalent,
            equivalence=INCONCLUSIVE, equivalent=False,
            success_excluding_infra_diff=px.diff,
            success_excluding_infra_diff_ci=(px.ci_low, px.ci_high), success_excluding_infra_p=px.p,
            infra_diff=pi.diff, infra_diff_se=pi.se,
            infra_diff_ci=infra_interval(i[:, j], i[:, b], counts.n[:, j], counts.n[:, b], alpha),
            infra_p_paired=flip.p, infra_p_paired_holm=NAN,
            infra_paired_test=flip.describe(),
            infra_lower_p=flip.p_less,
            infra_p=ex.p, infra_test=ex.test + " (trial-level reference)",
            infra_odds_ratio=ex.odds_ratio, infra_odds_ratio_ci=(ex.or_ci_low, ex.or_ci_high),
            infra_odds_ratio_method=ex.or_method,
            settle=_settle(counts, j, b, ps, margin, alpha)))
    adj = holm([c.success_p for c in raw] + [c.infra_p_paired for c in raw])
    out = []
    for k, c in enumerate(raw):
        ps_h, pi_h = float(adj[k]), float(adj[len(raw) + k])
        v = verdict(c.tost_equivalent, ps_h, alpha)
        out.append(dataclasses.replace(c, success_p_holm=ps_h, infra_p_paired_holm=pi_h, equivalence=v,
                                       equivalent=v == EQUIVALENT,
                                       settle=c.settle if v == INCONCLUSIVE else None))
    return out


def infra_interval(a: np.ndarray, b: np.ndarray, trials_a: np.ndarray, trials_b: np.ndarray,
                   alpha: float) -> tuple[float, float]:
    """MOVER over the two Korn–Graubard intervals (per-task rates ``a``, ``b`` from ``trials_a``,
    ``trials_b`` trials), on the tasks present in both profiles."""
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 2:
        return NAN, NAN
    kg = korn_graubard(np.column_stack([a[ok], b[ok]]), np.column_stack([trials_a[ok], trials_b[ok]]),
                       1 - alpha)
    return mover_difference(a[ok], b[ok], float(kg.ci_low[0]), float(kg.ci_high[0]),
                            float(kg.ci_low[1]), float(kg.ci_high[1]))


def _settle(counts: CellCounts, j: int, b: int, ps: PairedResult, margin: float,
            alpha: float) -> Settle | None:
    """Tasks (or repeats) that would let TOST show equivalence, if the observed difference is true."""
    gap = margin - abs(ps.diff) if np.isfinite(ps.diff) else NAN
    if not np.isfinite(gap) or gap <= 0:
        return Settle(None, None, "the observed difference is at or beyond the margin: more data "
                                  "would not show equivalence")
    try:
        vc = estimate_components(counts.passed[:, j], counts.n[:, j], counts.passed[:, b], counts.n[:, b])
    except ValueError:
        return Settle(None, None, "fewer than two tasks: cannot estimate variances")
    v = design_variance(vc.omega2, vc.sigma2_a, vc.sigma2_b, vc.k_a, vc.k_b)
    tasks = tost_tasks_needed(v, float(ps.diff), margin, alpha, POWER)
    reps = tost_repeats_needed(vc.omega2, vc.sigma2_a, vc.sigma2_b, vc.n_tasks, float(ps.diff), margin,
                               alpha, POWER)
    note = (f"for {POWER:.0%} power to show equivalence if the true difference is the observed "
            f"{ps.diff * 100:+.2f} points: {tasks} tasks at the current repeats"
            + (f", or {reps} repeats on the current {vc.n_tasks} tasks" if reps
               else "; more repeats alone cannot do it (task variance ω² dominates)")
            + (f" ({vc.note})" if vc.note else ""))
    return Settle(tasks, reps, note, omega2=vc.omega2, sigma2=(vc.sigma2_a, vc.sigma2_b), power=POWER)


def recommendation(comps: list[Comparison], counts: CellCounts, names: list[str],
                   multipliers: list[float | None], b: int, margin: float, alpha: float,
                   axis: str = "memory") -> Recommendation:
    """The band along ``multipliers``, the swept factor's (None: no step along it)."""
    base_mult = multipliers[b]
    mult = dict(zip(names, multipliers, strict=True))
    cands = []
    for c in comps:
        m = mult[c.profile]
        if m is not None and (base_mult is None or m > base_mult):
            cands.append(BandCandidate(c.profile, float(m), c.tost_equivalent, c.equivalence,
                                       c.infra_diff, c.infra_lower_p))
    band = calibrate_band(cands, alpha, margin, names[b])
    settle = None
    if band.unsettled:
        c = next(c for c in comps if c.profile == band.unsettled[-1])
        j = names.index(c.profile)
        base = c.settle if not c.tost_equivalent and c.equivalence != DIFFERENT else None
        s = base or _settle_infra(counts, j, b, c.infra_diff, alpha)
        settle = dataclasses.replace(s, profile=c.profile)
    return Recommendation(band.profile, band.verdict, band.reason, margin, criterion(axis), band.tested,
                          settle)


def _settle_infra(counts: CellCounts, j: int, b: int, diff: float, alpha: float) -> Settle:
    """Tasks that would show the observed infra-error reduction significant (one-sided t plan)."""
    note = "success is settled; the infra-error reduction is not significant yet"
    if not np.isfinite(diff) or diff >= 0:
        return Settle(None, None, note)
    try:
        vc = estimate_components(counts.infra[:, j], counts.n[:, j], counts.infra[:, b], counts.n[:, b])
    except ValueError:
        return Settle(None, None, note)
    v = design_variance(vc.omega2, vc.sigma2_a, vc.sigma2_b, vc.k_a, vc.k_b)
    tasks = t_tasks_needed(v, -diff, alpha, POWER, two_sided=False)
    reps = t_repeats_needed(vc.omega2, vc.sigma2_a, vc.sigma2_b, vc.n_tasks, -diff, alpha, POWER,
                            two_sided=False)
    return Settle(tasks, reps, f"{note}: about {tasks} tasks would show a {-diff * 100:.2f}-point "
                  f"reduction with {POWER:.0%} power" + (f", or {reps} repeats on the current tasks"
                                                         if reps else ""), power=POWER)
