"""Each profile against the baseline, and the calibrated band (the recommendation)."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.stats.equivalence import INCONCLUSIVE, BandCandidate, calibrate_band, tost, verdict
from harness.stats.exact import compare_counts
from harness.stats.paired import PairedResult, paired_difference
from harness.stats.power import (
    design_variance,
    estimate_components,
    repeats_needed,
    tasks_needed,
    tost_repeats_needed,
    tost_tasks_needed,
)
from harness.stats.table import CellCounts, TrialTable

POWER = 0.8


def comparisons(counts: CellCounts, names: list[str], b: int, margin: float, alpha: float,
                single: bool) -> list[dict[str, Any]]:
    """Paired per-task differences (profile − baseline) for every other profile. Holm and the
    verdicts are added afterwards by `finish_comparison`."""
    s, i, x = counts.success_rates(), counts.infra_rates(), counts.success_rates_excluding_infra()
    n_tr, infra_tr = counts.n.sum(0), counts.infra.sum(0)
    out = []
    for j, name in enumerate(names):
        if j == b:
            continue
        ps = paired_difference(s[:, j], s[:, b], alpha, single)
        pi = paired_difference(i[:, j], i[:, b], alpha, single)
        px = paired_difference(x[:, j], x[:, b], alpha, False)
        ex = compare_counts(int(infra_tr[j]), int(n_tr[j]), int(infra_tr[b]), int(n_tr[b]), 1 - alpha)
        t = tost(ps, margin, alpha)
        c: dict[str, Any] = {
            "profile": name, "baseline": names[b], "n_tasks": ps.n_tasks,
            "success_diff": ps.diff, "success_diff_se": ps.se, "success_diff_ci": [ps.ci_low, ps.ci_high],
            "success_p": ps.p, "success_test": ps.test, "success_note": ps.note,
            "success_tost_ci": [t.ci_low, t.ci_high], "success_tost_p": t.p, "tost_equivalent": t.equivalent,
            "success_excluding_infra_diff": px.diff,
            "success_excluding_infra_diff_ci": [px.ci_low, px.ci_high], "success_excluding_infra_p": px.p,
            "infra_diff": pi.diff, "infra_diff_se": pi.se, "infra_diff_ci": [pi.ci_low, pi.ci_high],
            "infra_p_paired": pi.p, "infra_paired_test": pi.test,
            "infra_p": ex.p, "infra_test": ex.test,
            "infra_odds_ratio": ex.odds_ratio, "infra_odds_ratio_ci": [ex.or_ci_low, ex.or_ci_high],
            "infra_odds_ratio_method": ex.or_method,
            "infra_lower_p": _lower_p(ex.p_less, pi),
        }
        c["settle"] = _settle(counts, j, b, ps, margin, alpha)
        out.append(c)
    return out


def _lower_p(exact_less: float, paired: PairedResult) -> float:
    """One-sided p for "infra errors lower than baseline": the larger of the exact and paired."""
    vals = [v for v in (exact_less, paired.p_less) if np.isfinite(v)]
    return max(vals) if vals else float("nan")


def finish_comparison(c: dict[str, Any], alpha: float) -> None:
    v = verdict(c["tost_equivalent"], _nan(c["success_p_holm"]), alpha)
    c["equivalence"] = v
    c["equivalent"] = v == "equivalent"
    if v != INCONCLUSIVE:
        c["settle"] = None


def _settle(counts: CellCounts, j: int, b: int, ps: PairedResult, margin: float,
            alpha: float) -> dict[str, Any] | None:
    """Tasks (or repeats) that would let TOST show equivalence, if the observed difference is true."""
    gap = margin - abs(ps.diff) if np.isfinite(ps.diff) else float("nan")
    if not np.isfinite(gap) or gap <= 0:
        return {"tasks": None, "repeats": None,
                "note": "the observed difference is at or beyond the margin: more data would not "
                        "show equivalence"}
    try:
        vc = estimate_components(counts.passed[:, j], counts.n[:, j], counts.passed[:, b], counts.n[:, b])
    except ValueError:
        return {"tasks": None, "repeats": None, "note": "fewer than two tasks: cannot estimate variances"}
    v = design_variance(vc.omega2, vc.sigma2_a, vc.sigma2_b, vc.k_a, vc.k_b)
    tasks = tost_tasks_needed(v, float(ps.diff), margin, alpha, POWER)
    reps = tost_repeats_needed(vc.omega2, vc.sigma2_a, vc.sigma2_b, vc.n_tasks, float(ps.diff), margin,
                               alpha, POWER)
    return {"tasks": tasks, "repeats": reps, "omega2": vc.omega2, "sigma2": [vc.sigma2_a, vc.sigma2_b],
            "power": POWER,
            "note": (f"for {POWER:.0%} power to show equivalence if the true difference is the observed "
                     f"{ps.diff * 100:+.2f} points: {tasks} tasks at the current repeats"
                     + (f", or {reps} repeats on the current {vc.n_tasks} tasks" if reps
                        else "; more repeats alone cannot do it (task variance ω² dominates)")
                     + (f" ({vc.note})" if vc.note else ""))}


def recommendation(comps: list[dict[str, Any]], counts: CellCounts, table: TrialTable, b: int,
                   margin: float, alpha: float) -> dict[str, Any]:
    from harness.report.sections import axis_values

    vals = axis_values(table)[1]
    base_mult = vals[b]
    mult = dict(zip(table.profile_names, vals, strict=True))
    cands = [BandCandidate(c["profile"], float(mult[c["profile"]]), c["equivalence"],  # type: ignore[arg-type]
                           _nan(c["infra_diff"]), _nan(c["infra_lower_p_holm"]))
             for c in comps if mult[c["profile"]] is not None
             and (base_mult is None or mult[c["profile"]] > base_mult)]  # type: ignore[operator]
    band = calibrate_band(cands, alpha, margin, table.profile_names[b])
    doc: dict[str, Any] = {"profile": band.profile, "verdict": band.verdict, "reason": band.reason,
                           "margin": margin, "criterion": (
                               "largest memory multiplier above the baseline whose success is TOST-"
                               "equivalent to the baseline and whose infra errors are significantly "
                               "lower (one-sided, Holm-adjusted)"),
                           "settle": None}
    if band.unsettled:
        c = next(c for c in comps if c["profile"] == band.unsettled[-1])
        j = table.profile_names.index(c["profile"])
        doc["settle"] = {"profile": c["profile"],
                         **(c["settle"] or _settle_infra(counts, j, b, _nan(c["infra_diff"]), alpha))}
    return doc


def _settle_infra(counts: CellCounts, j: int, b: int, diff: float, alpha: float) -> dict[str, Any]:
    """Tasks that would show the observed infra-error reduction significant (one-sided)."""
    note = "success is settled; the infra-error reduction is not significant yet"
    if not np.isfinite(diff) or diff >= 0:
        return {"tasks": None, "repeats": None, "note": note}
    try:
        vc = estimate_components(counts.infra[:, j], counts.n[:, j], counts.infra[:, b], counts.n[:, b])
    except ValueError:
        return {"tasks": None, "repeats": None, "note": note}
    tasks = tasks_needed(vc.omega2, vc.sigma2_a, vc.sigma2_b, vc.k_a, vc.k_b, -diff, alpha, POWER,
                         two_sided=False)
    reps = repeats_needed(vc.omega2, vc.sigma2_a, vc.sigma2_b, vc.n_tasks, -diff, alpha, POWER,
                          two_sided=False)
    return {"tasks": tasks, "repeats": reps, "power": POWER,
            "note": f"{note}: about {tasks} tasks would show a {-diff * 100:.2f}-point reduction "
                    f"with {POWER:.0%} power" + (f", or {reps} repeats on the current tasks" if reps else "")}


def _nan(v: Any) -> float:
    return float("nan") if v is None else float(v)
