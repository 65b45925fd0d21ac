"""The report document: one JSON-ready dict computed from a loaded sweep.

Rates and differences are proportions (0.02 = 2 points); the CLI takes the margin in points.
NaN never reaches the document: an undefined number is null, and a ``note`` says why.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import UsageError
from harness.report import against, sections
from harness.report.load import Sweep, load_dirs
from harness.stats.clustered import clustered_rates, naive_se, wilson_ci
from harness.stats.exact import overall_test
from harness.stats.paired import holm
from harness.stats.table import CellCounts

FEW_TASKS = 30


def report_for_dirs(dirs: list[Path], baseline: str = "1x", margin: float = 2.0,
                    alpha: float = 0.05) -> dict[str, Any]:
    """Load result directories (shards of one sweep) and build the report document.

    ``margin`` is in percentage points, as on the command line (2.0 = ±2 points); the
    document gives it as a proportion (``margin``: 0.02) and in points (``margin_points``).
    """
    if not 0 < margin < 100:
        raise UsageError(f"margin {margin:g} points is out of range", "give a margin in (0, 100) points")
    return build_report(load_dirs([Path(d) for d in dirs]), baseline, margin / 100, alpha)


def build_report(sweep: Sweep, baseline: str = "1x", margin: float = 0.02,
                 alpha: float = 0.05) -> dict[str, Any]:
    table = sweep.table
    b = table.profile_index(baseline)
    if b is None:
        raise UsageError(f"baseline profile {baseline!r} is not in the results (profiles: "
                         f"{', '.join(table.profile_names)})", "give --baseline with one of those names")
    if not 0 < margin < 1:
        raise UsageError(f"margin {margin * 100:g} points is out of range", "give --margin between 0 and 100")
    if not 0 < alpha < 0.5:
        raise UsageError(f"alpha {alpha} is out of range", "give --alpha between 0 and 0.5, e.g. 0.05")
    counts = CellCounts.from_table(table)
    notes: list[str] = []
    warnings = list(sweep.warnings)
    single = bool((counts.n[counts.n > 0] == 1).all())
    profiles = profile_rows(table.profile_names, table.memory_multiplier, table.cpu_multiplier, counts,
                            sweep.infra_reasons)
    for row, timeout in zip(profiles, table.timeout_multiplier or [1.0] * len(profiles), strict=True):
        row["timeout_multiplier"] = timeout  # of the agent timeout; None = no timeout
    comparisons = against.comparisons(counts, table.profile_names, b, margin, alpha, single)
    _adjust(comparisons, alpha)
    by_cat = np.stack([counts.passed.sum(0), counts.failed.sum(0), counts.infra.sum(0)], axis=1)
    overall = overall_test(by_cat)
    band = against.recommendation(comparisons, counts, table, b, margin, alpha)
    n_tasks = int((counts.n.sum(1) > 0).sum())
    if single:
        notes.append("K = 1 (one trial per task and profile): paired tests are exact McNemar tests")
    if n_tasks < FEW_TASKS:
        warnings.append(f"only {n_tasks} tasks (fewer than {FEW_TASKS}): intervals are wide and the "
                        "t approximation is rough")
    missing = int(((counts.n == 0) & (counts.n.sum(1, keepdims=True) > 0)).sum())
    if missing:
        warnings.append(f"{missing} (task, profile) cells have no trial: comparisons use the tasks "
                        "present in both profiles")
    if any(c["equivalence"] == "different" and abs(c["success_diff"] or 0) < 0.03 for c in comparisons):
        notes.append("a significant difference under 3 points: distrust such leads unless the set-ups "
                     "compared match (see setup)")
    notes += [
        "success_ci, success_diff_ci: 95 % t intervals from task-clustered standard errors "
        "(sd over per-task rates / sqrt(n_tasks)); success_wilson_ci is trial-level (pooled trials, "
        "treated as independent) and is narrower when tasks differ",
        f"equivalence: TOST, the {100 - 200 * alpha:g} % interval of the paired difference within "
        f"±{margin * 100:g} points; 'different' = Holm-adjusted p < {alpha:g} and not equivalent",
        "infra_p is a trial-level exact test (independent trials); infra_p_paired respects tasks; "
        "'infra errors significantly lower' needs both (the larger one-sided p, Holm-adjusted)",
    ]
    doc = {
        "sweep": sections.sweep_info(sweep, len(table), n_tasks),
        "baseline": baseline, "margin": margin, "margin_points": margin * 100, "alpha": alpha,
        "profiles": profiles, "comparisons": comparisons,
        "overall": {"test": "chi2_contingency, profiles × {passed, task_failure, infra_error}; "
                            "trial-level (treats trials as independent: optimistic when K > 1)",
                    "chi2": overall.chi2, "dof": overall.dof, "p": overall.p,
                    "counts": dict(zip(table.profile_names, overall.table, strict=True)),
                    "note": overall.note},
        "trend": sections.trend(counts, table),
        "recommendation": band,
        "flipping_tasks": sections.flipping_tasks(counts, table),
        "drift": sections.drift(table),
        "setup": sections.setup(sweep),
        "notes": notes, "warnings": warnings,
    }
    return clean(doc)


def profile_rows(names: list[str], mem: list[float | None], cpu: list[float | None], counts: CellCounts,
                 reasons: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    s = clustered_rates(counts.success_rates())
    x = clustered_rates(counts.success_rates_excluding_infra())
    i = clustered_rates(counts.infra_rates())
    f = clustered_rates(counts.task_failure_rates())
    n_trials = counts.n.sum(0)
    passed, infra = counts.passed.sum(0), counts.infra.sum(0)
    wl, wh = wilson_ci(passed, n_trials)
    il, ih = wilson_ci(infra, n_trials)
    nse = naive_se(passed, n_trials)
    rows = []
    for j, name in enumerate(names):
        per_task = counts.n[:, j][counts.n[:, j] > 0]
        rows.append({
            "name": name, "memory_multiplier": mem[j], "cpu_multiplier": cpu[j],
            "n_tasks": int(s.n_tasks[j]), "n_trials": int(n_trials[j]),
            "repeats": int(np.median(per_task)) if per_task.size else 0,
            "repeats_min": int(per_task.min()) if per_task.size else 0,
            "repeats_max": int(per_task.max()) if per_task.size else 0,
            "success_rate": s.mean[j], "success_se": s.se[j], "success_ci": [s.ci_low[j], s.ci_high[j]],
            "success_trial_rate": passed[j] / n_trials[j] if n_trials[j] else None,
            "success_naive_se": nse[j], "success_wilson_ci": [wl[j], wh[j]],
            "success_wilson_basis": "trial-level",
            "success_rate_excluding_infra": x.mean[j], "success_excluding_infra_se": x.se[j],
            "success_excluding_infra_ci": [x.ci_low[j], x.ci_high[j]],
            "infra_error_rate": i.mean[j], "infra_error_se": i.se[j],
            "infra_error_ci": [i.ci_low[j], i.ci_high[j]],
            "infra_error_wilson_ci": [il[j], ih[j]], "infra_errors": int(infra[j]),
            "infra_reasons": reasons.get(name, {}),
            "task_failure_rate": f.mean[j], "task_failure_se": f.se[j],
            "task_failure_ci": [f.ci_low[j], f.ci_high[j]],
            "note": None if s.n_tasks[j] >= 2 else "fewer than two tasks: no standard error",
        })
    return rows


def _adjust(comparisons: list[dict[str, Any]], alpha: float) -> None:
    """Holm across the profiles compared with the baseline, then the equivalence verdicts."""
    for key in ("success_p", "infra_p", "infra_p_paired", "infra_lower_p"):
        adj = holm([_f(c[key]) for c in comparisons])
        for c, a in zip(comparisons, adj, strict=True):
            c[key + "_holm"] = a
    for c in comparisons:
        against.finish_comparison(c, alpha)


def _f(v: Any) -> float:
    return float("nan") if v is None else float(v)


def clean(obj: Any) -> Any:
    """numpy → Python, NaN/inf → None, recursively."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return clean(obj.tolist())
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        v = float(obj)
        return v if math.isfinite(v) else None
    return obj


__all__ = ["build_report", "clean", "report_for_dirs"]
