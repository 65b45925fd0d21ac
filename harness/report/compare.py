"""Reproducibility on fixed hardware: two sweeps of the same tasks and profiles, paired per
task and profile, with a TOST verdict at the margin, and the manifest fields that differ
(listed first: a difference in set-up explains a difference in score before anything else)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ResultsError
from harness.exits import ExitStatus
from harness.report.build import clean
from harness.report.load import Sweep, load_dirs
from harness.stats.equivalence import DIFFERENT, EQUIVALENT, tost, verdict
from harness.stats.paired import holm, paired_difference
from harness.stats.table import CellCounts

# Manifest fields that differ between any two sweeps and say nothing about the set-up
# (tests/test_schema.py checks that each names a real manifest field).
IGNORED = ("sweep_id", "started_at", "finished_at", "invocations", "cgroup_sessions", "suite.path",
           "shard", "settings.shard")
EXIT = {"reproduced": ExitStatus.OK, "different": ExitStatus.DIFFERENT,
        "inconclusive": ExitStatus.INCONCLUSIVE}


def compare_dirs(a: list[Path], b: list[Path], margin: float = 0.02, alpha: float = 0.05) -> dict[str, Any]:
    return compare_sweeps(load_dirs(a), load_dirs(b), margin, alpha)


def manifest_diff(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    fa, fb = _flatten(a), _flatten(b)
    out = []
    for key in sorted(set(fa) | set(fb)):
        if any(key == i or key.startswith(i + ".") for i in IGNORED):
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


def compare_sweeps(sa: Sweep, sb: Sweep, margin: float = 0.02, alpha: float = 0.05) -> dict[str, Any]:
    ta, tb = sa.table, sb.table
    tasks = sorted(set(ta.task_names) & set(tb.task_names))
    profiles = [p for p in ta.profile_names if p in tb.profile_names]
    if len(tasks) < 1 or not profiles:
        raise ResultsError(f"{sa.dirs[0]} and {sb.dirs[0]} share no task and profile",
                           "compare two sweeps of the same suite and profiles")
    ca = _reindex(CellCounts.from_table(ta), tasks, profiles, ta.task_names, ta.profile_names)
    cb = _reindex(CellCounts.from_table(tb), tasks, profiles, tb.task_names, tb.profile_names)
    single = bool((ca.n[ca.n > 0] == 1).all() and (cb.n[cb.n > 0] == 1).all())
    rows = []
    for j, name in enumerate(profiles):
        row: dict[str, Any] = {"profile": name}
        for key, ra, rb in (("success", ca.success_rates(), cb.success_rates()),
                            ("infra", ca.infra_rates(), cb.infra_rates())):
            pr = paired_difference(ra[:, j], rb[:, j], alpha, single)
            t = tost(pr, margin, alpha)
            row |= {f"{key}_a": float(np.nanmean(ra[:, j])) if np.isfinite(ra[:, j]).any() else None,
                    f"{key}_b": float(np.nanmean(rb[:, j])) if np.isfinite(rb[:, j]).any() else None,
                    f"{key}_diff": pr.diff, f"{key}_diff_ci": [pr.ci_low, pr.ci_high], f"{key}_p": pr.p,
                    f"{key}_tost_ci": [t.ci_low, t.ci_high], f"{key}_tost_equivalent": t.equivalent,
                    f"{key}_test": pr.test, "n_tasks": pr.n_tasks}
        rows.append(row)
    adj = holm([r["success_p"] for r in rows] + [r["infra_p"] for r in rows])
    for r, ps, pi in zip(rows, adj[: len(rows)], adj[len(rows):], strict=True):
        r["success_p_holm"], r["infra_p_holm"] = ps, pi
        r["success_verdict"] = verdict(r["success_tost_equivalent"], ps, alpha)
        r["infra_verdict"] = verdict(r["infra_tost_equivalent"], pi, alpha)
    verdicts = [r[k] for r in rows for k in ("success_verdict", "infra_verdict")]
    status = ("different" if DIFFERENT in verdicts else
              "reproduced" if all(v == EQUIVALENT for v in verdicts) else "inconclusive")
    doc = {
        "a": [str(d) for d in sa.dirs], "b": [str(d) for d in sb.dirs],
        "manifest_diff": manifest_diff(sa.manifest.to_json(), sb.manifest.to_json()),
        "margin": margin, "margin_points": margin * 100, "alpha": alpha,
        "status": status, "exit_code": EXIT[status], "profiles": rows,
        "n_tasks": len(tasks),
        "tasks_only_in_a": sorted(set(ta.task_names) - set(tasks)),
        "tasks_only_in_b": sorted(set(tb.task_names) - set(tasks)),
        "profiles_only_in_a": [p for p in ta.profile_names if p not in profiles],
        "profiles_only_in_b": [p for p in tb.profile_names if p not in profiles],
        "rule": (f"per profile, success and infra-error rates of A − B paired by task: 'equivalent' when "
                 f"the {100 - 200 * alpha:g} % interval lies within ±{margin * 100:g} points (TOST), "
                 f"'different' when Holm-adjusted p < {alpha:g}; reproduced = all equivalent"),
        "warnings": sa.warnings + sb.warnings,
    }
    cleaned: dict[str, Any] = clean(doc)
    return cleaned


def render_compare(doc: dict[str, Any], fmt: str = "simple") -> str:
    from tabulate import tabulate

    from harness.report.render import ci, pct, pts, pval

    out = []
    if doc["manifest_diff"]:
        out.append("Set-up differences (manifest fields that differ; they explain a score difference first):")
        out.append(tabulate([[d["field"], _short(d["a"]), _short(d["b"])] for d in doc["manifest_diff"]],
                            ["field", "A", "B"], tablefmt=fmt, disable_numparse=True))
    else:
        out.append("Set-up: the manifests agree (apart from ids and times).")
    out.append("")
    rows = [[r["profile"], r["n_tasks"], pct(r["success_a"]), pct(r["success_b"]), pts(r["success_diff"]),
             ci(r["success_diff_ci"], True), pval(r["success_p_holm"]), r["success_verdict"],
             pts(r["infra_diff"]), ci(r["infra_diff_ci"], True), pval(r["infra_p_holm"]), r["infra_verdict"]]
            for r in doc["profiles"]]
    out.append(tabulate(rows, ["profile", "tasks", "success A %", "B %", "Δ", "95% CI", "p Holm", "success",
                               "Δ infra", "95% CI", "p Holm", "infra"], tablefmt=fmt, disable_numparse=True))
    out.append("")
    for k in ("tasks_only_in_a", "tasks_only_in_b", "profiles_only_in_a", "profiles_only_in_b"):
        if doc[k]:
            more = " …" if len(doc[k]) > 20 else ""
            out.append(f"{k.replace('_', ' ')}: {', '.join(doc[k][:20])}{more}")
    out.extend(f"warning: {w}" for w in doc["warnings"])
    out.append(f"Verdict: {doc['status'].upper()} (margin ±{doc['margin_points']:g} points). {doc['rule']}.")
    return "\n".join(out) + "\n"


def _short(v: Any) -> str:
    s = "—" if v is None else str(v)
    return s if len(s) <= 60 else s[:57] + "..."
