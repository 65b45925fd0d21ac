"""Reproducibility on fixed hardware: two sweeps of the same tasks and profiles, paired per
task and profile, with a TOST verdict at the margin, and the manifest fields that differ
(listed first: a difference in set-up explains a difference in score before anything else)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ResultsError
from harness.exits import ExitStatus
from harness.report import capacity
from harness.report.against import infra_interval
from harness.report.build import DEFAULT_MARGIN, check_margin
from harness.report.document import CompareDoc, CompareRow
from harness.report.load import Sweep, load_dirs
from harness.stats.equivalence import DIFFERENT, EQUIVALENT, tost, verdict
from harness.stats.paired import holm, paired_difference, sign_flip_test
from harness.stats.table import CellCounts

# Manifest fields that differ between any two sweeps and say nothing about the set-up
# (tests/test_schema.py checks that each names a real manifest field).
IGNORED = ("sweep_id", "started_at", "finished_at", "invocations", "cgroup_sessions", "suite.path",
           "shard", "settings.shard")
# Leaves of a per-task image entry that say how the image came to be here, not which image
# ran: how long the build took, and whether it was built, pulled or already present.
IGNORED_IMAGE_LEAVES = ("seconds", "source")
EXIT = {"reproduced": ExitStatus.OK, "different": ExitStatus.DIFFERENT,
        "inconclusive": ExitStatus.INCONCLUSIVE}


def compare_dirs(a: list[Path], b: list[Path], margin: float = DEFAULT_MARGIN,
                 alpha: float = 0.05) -> CompareDoc:
    """``margin`` is a proportion (0.03 = ±3 points), as in `report_for_dirs`."""
    check_margin(margin, alpha)
    return compare_sweeps(load_dirs(a), load_dirs(b), margin, alpha)


def manifest_diff(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    fa, fb = _flatten(a), _flatten(b)
    out = []
    for key in sorted(set(fa) | set(fb)):
        if any(key == i or key.startswith(i + ".") for i in IGNORED):
            continue
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "images" and parts[2] in IGNORED_IMAGE_LEAVES:
            continue
        if fa.get(key) != fb.get(key):
            out.append({"field": key, "a": fa.get(key), "b": fb.get(key)})
    return out


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(obj, list) and obj and all(isinstance(x, dict) and "name" in x for x in obj):
        out = {}
        for x in obj:
            out.update(_flatten({k: v for k, v in x.items() if k != "name"}, f"{prefix}[{x['name']}]"))
        return out
    if isinstance(obj, list):
        return {prefix: json.dumps(obj, sort_keys=True)}
    return {prefix: obj}


def _reindex(counts: CellCounts, tasks: list[str], profiles: list[str], t_names: list[str],
             p_names: list[str]) -> CellCounts:
    ti = np.array([t_names.index(t) for t in tasks], dtype=int)
    pi = np.array([p_names.index(p) for p in profiles], dtype=int)
    return CellCounts(counts.n[np.ix_(ti, pi)], counts.passed[np.ix_(ti, pi)], counts.infra[np.ix_(ti, pi)])


def compare_sweeps(sa: Sweep, sb: Sweep, margin: float = DEFAULT_MARGIN, alpha: float = 0.05) -> CompareDoc:
    check_margin(margin, alpha)
    ta, tb = sa.table, sb.table
    tasks = sorted(set(ta.task_names) & set(tb.task_names))
    profiles = [p for p in ta.profile_names if p in tb.profile_names]
    if len(tasks) < 1 or not profiles:
        raise ResultsError(f"{sa.dirs[0]} and {sb.dirs[0]} share no task and profile",
                           "compare two sweeps of the same suite and profiles")
    ca = _reindex(CellCounts.from_table(ta), tasks, profiles, ta.task_names, ta.profile_names)
    cb = _reindex(CellCounts.from_table(tb), tasks, profiles, tb.task_names, tb.profile_names)
    rows, status = compare_cells(ca, cb, profiles, margin, alpha)
    return CompareDoc(
        a=tuple(str(d) for d in sa.dirs), b=tuple(str(d) for d in sb.dirs),
        manifest_diff=tuple(manifest_diff(sa.manifest.to_json(), sb.manifest.to_json())),
        margin=margin, margin_points=margin * 100, alpha=alpha, status=status, exit_code=EXIT[status],
        capacity=_capacity(ca, cb, margin, alpha), profiles=tuple(rows), n_tasks=len(tasks),
        tasks_only_in_a=tuple(sorted(set(ta.task_names) - set(tasks))),
        tasks_only_in_b=tuple(sorted(set(tb.task_names) - set(tasks))),
        profiles_only_in_a=tuple(p for p in ta.profile_names if p not in profiles),
        profiles_only_in_b=tuple(p for p in tb.profile_names if p not in profiles),
        rule=(f"per profile, success and infra-error rates of A − B paired by task: 'equivalent' when "
              f"the {100 - 200 * alpha:g} % interval lies within ±{margin * 100:g} points (TOST), "
              f"'different' when Holm-adjusted p < {alpha:g} (success: paired t; infra errors: "
              "sign-flip permutation); reproduced = all equivalent"),
        warnings=tuple(sa.warnings + sb.warnings))


def compare_cells(ca: CellCounts, cb: CellCounts, profiles: list[str], margin: float,
                  alpha: float) -> tuple[list[CompareRow], str]:
    """Rows and status for two sweeps' counts over the same tasks and profiles (same order)."""
    single = bool((ca.n[ca.n > 0] == 1).all() and (cb.n[cb.n > 0] == 1).all())
    sa_r, sb_r, ia_r, ib_r = ca.success_rates(), cb.success_rates(), ca.infra_rates(), cb.infra_rates()
    raw = []
    for j, name in enumerate(profiles):
        ps = paired_difference(sa_r[:, j], sb_r[:, j], alpha, single)
        pi = paired_difference(ia_r[:, j], ib_r[:, j], alpha, single)
        flip = sign_flip_test(ia_r[:, j], ib_r[:, j])
        ts, ti = tost(ps, margin, alpha), tost(pi, margin, alpha)
        raw.append(CompareRow(
            profile=name, n_tasks=ps.n_tasks, success_a=_mean(sa_r[:, j]), success_b=_mean(sb_r[:, j]),
            success_diff=ps.diff, success_diff_ci=(ps.ci_low, ps.ci_high), success_p=ps.p,
            success_p_holm=float("nan"), success_tost_ci=(ts.ci_low, ts.ci_high),
            success_tost_equivalent=ts.equivalent, success_test=ps.test, success_verdict="",
            infra_a=_mean(ia_r[:, j]), infra_b=_mean(ib_r[:, j]), infra_diff=pi.diff,
            infra_diff_ci=infra_interval(ia_r[:, j], ib_r[:, j], ca.n[:, j], cb.n[:, j], alpha),
            infra_p=flip.p,
            infra_p_holm=float("nan"), infra_tost_ci=(ti.ci_low, ti.ci_high),
            infra_tost_equivalent=ti.equivalent, infra_test=flip.describe(), infra_verdict=""))
    adj = holm([r.success_p for r in raw] + [r.infra_p for r in raw])
    rows = []
    for k, r in enumerate(raw):
        ps_h, pi_h = float(adj[k]), float(adj[len(raw) + k])
        rows.append(dataclasses.replace(
            r, success_p_holm=ps_h, infra_p_holm=pi_h,
            success_verdict=verdict(r.success_tost_equivalent, ps_h, alpha),
            infra_verdict=verdict(r.infra_tost_equivalent, pi_h, alpha)))
    verdicts = [v for r in rows for v in (r.success_verdict, r.infra_verdict)]
    status = ("different" if DIFFERENT in verdicts else
              "reproduced" if all(v == EQUIVALENT for v in verdicts) else "inconclusive")
    return rows, status


def _mean(v: np.ndarray) -> float | None:
    return float(np.nanmean(v)) if np.isfinite(v).any() else None


def _capacity(ca: CellCounts, cb: CellCounts, margin: float, alpha: float) -> tuple[str, ...]:
    """What these tasks and repeats can settle (see harness.report.capacity)."""
    k = int(np.median(np.concatenate([ca.n[ca.n > 0], cb.n[cb.n > 0]])))
    c = capacity.from_pairs(ca, cb, [(j, j) for j in range(ca.n.shape[1])], k, margin, alpha)
    return () if c is None else c.summary


def render_compare(doc: CompareDoc, fmt: str = "simple") -> str:
    from tabulate import tabulate

    from harness.report.render import ci, pct, pts, pval

    out = [f"What this n can settle: {line}" for line in doc.capacity]
    if doc.manifest_diff:
        out.append("Set-up differences (manifest fields that differ; they explain a score difference first):")
        out.append(tabulate([[d["field"], _short(d["a"]), _short(d["b"])] for d in doc.manifest_diff],
                            ["field", "A", "B"], tablefmt=fmt, disable_numparse=True))
    else:
        out.append("Set-up: the manifests agree (apart from ids and times).")
    out.append("")
    rows = [[r.profile, r.n_tasks, pct(r.success_a), pct(r.success_b), pts(r.success_diff),
             ci(r.success_diff_ci, True), pval(r.success_p_holm), r.success_verdict,
             pts(r.infra_diff), ci(r.infra_diff_ci, True), pval(r.infra_p_holm), r.infra_verdict]
            for r in doc.profiles]
    out.append(tabulate(rows, ["profile", "tasks", "success A %", "B %", "Δ", "95% CI", "p Holm", "success",
                               "Δ infra", "95% CI", "p Holm", "infra"], tablefmt=fmt, disable_numparse=True))
    out.append("")
    for label, names in (("tasks only in a", doc.tasks_only_in_a), ("tasks only in b", doc.tasks_only_in_b),
                         ("profiles only in a", doc.profiles_only_in_a),
                         ("profiles only in b", doc.profiles_only_in_b)):
        if names:
            more = " …" if len(names) > 20 else ""
            out.append(f"{label}: {', '.join(names[:20])}{more}")
    out.extend(f"warning: {w}" for w in doc.warnings)
    out.append(f"Verdict: {doc.status.upper()} (margin ±{doc.margin_points:g} points). {doc.rule}.")
    return "\n".join(out) + "\n"


def _short(v: Any) -> str:
    s = "—" if v is None else str(v)
    return s if len(s) <= 60 else s[:57] + "..."
