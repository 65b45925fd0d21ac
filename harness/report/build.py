"""The report document (`harness.report.document.Report`) computed from a loaded sweep.

Rates, differences and the margin are proportions (0.02 = 2 points) in every function here;
the CLI converts the points a user types.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.errors import UsageError
from harness.report import against, sections
from harness.report.capacity import capacity
from harness.report.document import Comparison, Overall, ProfileRow, Report, clean
from harness.report.load import Sweep, load_dirs
from harness.stats.clustered import clustered_rates, korn_graubard, naive_se, wilson_ci
from harness.stats.exact import overall_test
from harness.stats.table import CellCounts

FEW_TASKS = 30
# Below this many tasks with an infra error under a profile, its infra interval and sign-flip
# test rest on a handful of tasks (scripts/validate_stats.py --grid: at 30–40 tasks the per-profile
# interval covers 93.9–96.3 % and the paired one 93.0–95.7 %, the test's size stays under 2 %).
SPARSE_INFRA_TASKS = 10
DEFAULT_MARGIN = 0.03  # the article: differences under ~2–3 points are indistinguishable
KG_METHOD = ("Korn–Graubard (task-clustered effective sample size; Clopper–Pearson upper, Jeffreys lower "
             "bound; Satterthwaite df on the tasks with errors)")
FAMILY = {
    "primary": ["success_p (paired t on per-task success; mid-p McNemar at K = 1)",
                "infra_p_paired (sign-flip permutation of per-task infra-error differences)"],
    "adjustment": "Holm over both keys and every profile against the baseline: *_holm",
    "secondary": ["success_excluding_infra_p", "infra_p and infra_odds_ratio (trial-level references)",
                  "overall", "trend", "drift"],
    "secondary_note": "secondary p-values are unadjusted: read them as descriptions, not findings",
}


def check_margin(margin: float, alpha: float) -> None:
    """The one check of the internal units (proportions) for report and compare."""
    if not 0 < margin < 1:
        raise UsageError(f"margin {margin:g} is out of range (a proportion: 0.03 = 3 points)",
                         "give --margin between 0 and 100 points")
    if not 0 < alpha < 0.5:
        raise UsageError(f"alpha {alpha} is out of range", "give --alpha between 0 and 0.5, e.g. 0.05")


def report_for_dirs(dirs: list[Path], baseline: str = "1x", margin: float = DEFAULT_MARGIN,
                    alpha: float = 0.05) -> Report:
    """Load result directories (shards of one sweep) and build the report; ``margin`` is a
    proportion (0.03 = ±3 points), as in `compare_dirs`."""
    check_margin(margin, alpha)
    return build_report(load_dirs([Path(d) for d in dirs]), baseline, margin, alpha)


def build_report(sweep: Sweep, baseline: str = "1x", margin: float = DEFAULT_MARGIN,
                 alpha: float = 0.05) -> Report:
    check_margin(margin, alpha)
    table = sweep.table
    b = table.profile_index(baseline)
    if b is None:
        raise UsageError(f"baseline profile {baseline!r} is not in the results (profiles: "
                         f"{', '.join(table.profile_names)})", "give --baseline with one of those names")
    counts = CellCounts.from_table(table)
    notes: list[str] = []
    warnings = list(sweep.warnings)
    single = bool((counts.n[counts.n > 0] == 1).all())
    profiles = profile_rows(table.profile_names, table.memory_multiplier, table.cpu_multiplier,
                            table.timeout_multiplier, counts, sweep.infra_reasons, alpha)
    comps = against.comparisons(counts, table.profile_names, b, margin, alpha, single)
    by_cat = np.stack([counts.passed.sum(0), counts.failed.sum(0), counts.infra.sum(0)], axis=1)
    ov = overall_test(by_cat)
    axis, along = sections.band_multipliers(table, b)
    band = against.recommendation(comps, counts, table.profile_names, along, b, margin, alpha,
                                  axis=axis or "memory")
    n_tasks = int((counts.n.sum(1) > 0).sum())
    if single:
        notes.append("K = 1 (one trial per task and profile): paired tests are mid-p McNemar tests")
    if n_tasks < FEW_TASKS:
        warnings.append(f"only {n_tasks} tasks (fewer than {FEW_TASKS}): intervals are wide and the "
                        "t approximation is rough")
    sparse = sparse_infra(counts, table.profile_names)
    if sparse:
        warnings.append(f"infra errors fell on fewer than {SPARSE_INFRA_TASKS} tasks ({sparse}): their "
                        "intervals and the sign-flip tests rest on those tasks alone, so they are "
                        "approximate (conservative, or with many repeats missing above up to twice as "
                        "often as stated) and a difference may be out of reach (README, Reports)")
    missing = int(((counts.n == 0) & (counts.n.sum(1, keepdims=True) > 0)).sum())
    if missing:
        warnings.append(f"{missing} (task, profile) cells have no trial: comparisons use the tasks "
                        "present in both profiles")
    if any(_small_lead(c) for c in comps):
        notes.append("a significant difference under 3 points: distrust such leads unless the set-ups "
                     "compared match (see setup)")
    notes += [
        "success_ci, success_diff_ci: t intervals from task-clustered standard errors (sd over per-task "
        "rates / sqrt(n_tasks)); success_wilson_ci is trial-level (trials treated as independent)",
        "infra_error_ci: Korn–Graubard (skewed per-task rates: most tasks have none); with no infra "
        "error at all its bound is the binomial one over the trials, which errors clustered on a few "
        "tasks can exceed; infra_diff_ci: MOVER (Zou & Donner 2008) over the two Korn–Graubard intervals",
        f"equivalence: TOST, the {100 - 200 * alpha:g} % interval of the paired difference within "
        f"±{margin * 100:g} points; 'different' = Holm-adjusted p < {alpha:g} and not equivalent",
        "primary family: success_p and infra_p_paired of every profile, Holm-adjusted together; infra_p "
        "(exact, trial-level) is a reference only",
    ]
    return Report(
        sweep=sections.sweep_info(sweep, len(table), n_tasks), baseline=baseline, margin=margin,
        margin_points=margin * 100, alpha=alpha, capacity=capacity(counts, b, margin, alpha),
        family=FAMILY, profiles=tuple(profiles), comparisons=tuple(comps),
        overall=Overall("chi2_contingency, profiles × {passed, task_failure, infra_error}; trial-level "
                        "(treats trials as independent: optimistic when K > 1)", ov.chi2, ov.dof, ov.p,
                        dict(zip(table.profile_names, ov.table, strict=True)), ov.note),
        trend=sections.trend(counts, table), recommendation=band,
        flipping_tasks=sections.flipping_tasks(counts, table), drift=sections.drift(table),
        setup=sections.setup(sweep), notes=tuple(notes), warnings=tuple(warnings))


def sparse_infra(counts: CellCounts, names: list[str]) -> str:
    """'name: c tasks, …' for the profiles whose infra errors fall on 1 to SPARSE_INFRA_TASKS − 1
    tasks ('' when none): a profile without any infra error is not sparse, it is clean."""
    tasks = (counts.infra > 0).sum(0)
    return ", ".join(f"{n}: {int(c)} task{'s' if c != 1 else ''}" for n, c in zip(names, tasks, strict=True)
                     if 0 < c < SPARSE_INFRA_TASKS)


def _small_lead(c: Comparison) -> bool:
    return c.equivalence == "different" and np.isfinite(c.success_diff) and abs(c.success_diff) < 0.03


def profile_rows(names: list[str], mem: list[float | None], cpu: list[float | None],
                 timeout: list[float | None] | None, counts: CellCounts,
                 reasons: dict[str, dict[str, int]], alpha: float = 0.05) -> list[ProfileRow]:
    conf = 1 - alpha
    s = clustered_rates(counts.success_rates(), conf)
    x = clustered_rates(counts.success_rates_excluding_infra(), conf)
    i = korn_graubard(counts.infra_rates(), counts.n, conf)
    f = clustered_rates(counts.task_failure_rates(), conf)
    n_trials = counts.n.sum(0)
    passed, infra = counts.passed.sum(0), counts.infra.sum(0)
    wl, wh = wilson_ci(passed, n_trials, conf)
    il, ih = wilson_ci(infra, n_trials, conf)
    nse = naive_se(passed, n_trials)
    rows = []
    for j, name in enumerate(names):
        per_task = counts.n[:, j][counts.n[:, j] > 0]
        rows.append(ProfileRow(
            name=name, memory_multiplier=mem[j], cpu_multiplier=cpu[j],
            timeout_multiplier=1.0 if timeout is None else timeout[j],
            n_tasks=int(s.n_tasks[j]), n_trials=int(n_trials[j]),
            repeats=int(np.median(per_task)) if per_task.size else 0,
            repeats_min=int(per_task.min()) if per_task.size else 0,
            repeats_max=int(per_task.max()) if per_task.size else 0,
            success_rate=s.mean[j], success_se=s.se[j], success_ci=(s.ci_low[j], s.ci_high[j]),
            success_trial_rate=float(passed[j] / n_trials[j]) if n_trials[j] else None,
            success_naive_se=nse[j], success_wilson_ci=(wl[j], wh[j]), success_wilson_basis="trial-level",
            success_rate_excluding_infra=x.mean[j], success_excluding_infra_se=x.se[j],
            success_excluding_infra_ci=(x.ci_low[j], x.ci_high[j]),
            infra_error_rate=i.mean[j], infra_error_se=i.se[j], infra_error_ci=(i.ci_low[j], i.ci_high[j]),
            infra_error_ci_method=KG_METHOD,
            infra_error_wilson_ci=(il[j], ih[j]), infra_errors=int(infra[j]),
            infra_reasons=reasons.get(name, {}),
            task_failure_rate=f.mean[j], task_failure_se=f.se[j], task_failure_ci=(f.ci_low[j], f.ci_high[j]),
            note=None if s.n_tasks[j] >= 2 else "fewer than two tasks: no standard error"))
    return rows


__all__ = ["DEFAULT_MARGIN", "build_report", "check_margin", "clean", "report_for_dirs"]
