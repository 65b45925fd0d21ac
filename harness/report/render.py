"""Text (tabulate) and markdown renderings of a report document."""

from __future__ import annotations

from typing import Any

from harness.report.document import Report


def pct(v: float | None, digits: int = 1) -> str:
    return "–" if v is None else f"{v * 100:.{digits}f}"


def pts(v: float | None) -> str:
    return "–" if v is None else f"{v * 100:+.2f}"


def ci(pair: list[float | None] | None, signed: bool = False) -> str:
    if not pair or pair[0] is None or pair[1] is None:
        return "–"
    f = pts if signed else pct
    return f"[{f(pair[0])}, {f(pair[1])}]"


def pval(p: float | None) -> str:
    if p is None:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def peq(p: float | None) -> str:
    """'p = 0.040' or 'p < 0.001'."""
    s = pval(p)
    return "p < 0.001" if s == "<0.001" else f"p = {s}"


def render_text(report: Report) -> str:
    """The report as plain-text tables and verdict sentences."""
    return _render(report.to_json(), "simple", lambda s: f"\n{s}\n{'=' * len(s)}")


def render_markdown(report: Report) -> str:
    return _render(report.to_json(), "github", lambda s: f"\n## {s}\n")


def _render(doc: dict[str, Any], fmt: str, head: Any) -> str:
    from tabulate import tabulate

    out: list[str] = []
    sw = doc["sweep"]
    out.append(f"Sweep {', '.join(sw['sweep_ids'])} — suite {sw['suite']} — {sw['n_trials']} trials, "
               f"{sw['n_tasks']} tasks, host(s) {', '.join(sw['hosts'])}")
    out.append(f"Baseline {doc['baseline']}, margin ±{doc['margin_points']:g} points, α = {doc['alpha']:g}. "
               "Rates in %, differences in points.")
    out.append(head("What this n can settle"))
    cap = doc["capacity"]
    out.extend(cap["summary"] if cap else ["fewer than three tasks in common with the baseline: "
                                           "nothing can be settled"])
    out.append(head("Set-up (from the manifest)"))
    rows = []
    for r in doc["setup"]["runs"]:
        h = r.get("host") or {}
        rows.append([r["dir"], r.get("backend"), h.get("kernel"), h.get("cpu_model"), h.get("cores"),
                     _gib(h.get("memory_bytes")), _gib(h.get("swap_bytes")), r.get("concurrency"),
                     r.get("seed"), r.get("harness_version"), r.get("shard")])
    out.append(tabulate(rows, ["dir", "backend", "kernel", "cpu", "cores", "mem GiB", "swap GiB",
                               "concurrency", "seed", "harness", "shard"], tablefmt=fmt))
    out.append(head("Profiles"))
    rows = []
    for p in doc["profiles"]:
        rows.append([p["name"], _mult(p["memory_multiplier"]), _mult(p["cpu_multiplier"]), p["n_tasks"],
                     p["n_trials"], p["repeats"],
                     f"{pct(p['success_rate'])} ± {pct(p['success_se'])}", ci(p["success_ci"]),
                     ci(p["success_wilson_ci"]), pct(p["success_rate_excluding_infra"]),
                     pct(p["task_failure_rate"]),
                     f"{pct(p['infra_error_rate'])} ± {pct(p['infra_error_se'])}",
                     ci(p["infra_error_ci"])])
    out.append(tabulate(rows, ["profile", "mem×", "cpu×", "tasks", "trials", "K", "success ± SE",
                               "95% CI", "Wilson (trial)", "succ. excl. infra", "task fail", "infra ± SE",
                               "infra 95% CI"], tablefmt=fmt, disable_numparse=True))
    out.append(head(f"Against {doc['baseline']} (paired by task)"))
    rows = []
    for c in doc["comparisons"]:
        rows.append([c["profile"], c["n_tasks"], pts(c["success_diff"]), ci(c["success_diff_ci"], True),
                     pval(c["success_p"]), pval(c["success_p_holm"]), c["equivalence"],
                     pts(c["infra_diff"]), ci(c["infra_diff_ci"], True), pval(c["infra_p_paired"]),
                     pval(c["infra_p_paired_holm"]), pval(c["infra_p"]), _or(c)])
    out.append(tabulate(rows, ["profile", "tasks", "Δ success", "95% CI", "p", "p Holm", "equivalence",
                               "Δ infra", "95% CI", "p (tasks)", "p Holm", "p trials (ref.)",
                               "odds ratio [CI] (ref.)"],
                        tablefmt=fmt, disable_numparse=True))
    out.append("Primary family (Holm): success and infra errors of every profile; 'p trials' and the "
               "odds ratio treat trials as independent and are references only.")
    out.append("")
    for c in doc["comparisons"]:
        out.append(_sentence(c, doc))
    o = doc["overall"]
    out.append(f"\nAll profiles at once ({o['test']}): chi2 = {_num(o['chi2'])}, dof = {o['dof']}, "
               f"{peq(o['p'])}" + (f" ({o['note']})" if o["note"] else ""))
    out.append(head("Trend over the limit (secondary: unadjusted)"))
    out.extend(_trend_lines(doc["trend"]))
    r = doc["recommendation"]
    out.append(head("Recommended limit (calibrated band)"))
    out.append(f"{r['verdict'].upper()}: {r['profile'] or 'no profile'} — {r['reason']}.")
    out.append(f"Rule: {r['criterion']}.")
    if r.get("settle"):
        out.append(f"To settle ({r['settle']['profile']}): {r['settle'].get('note')}")
    ft = doc["flipping_tasks"]
    out.append(head(f"Tasks that flip ({ft['count']}; {ft['rule']})"))
    if ft["tasks"]:
        names = [p["name"] for p in doc["profiles"]]
        rows = [[t["task"], t["pattern"]] + [pct(t["success_rate"].get(n), 0) + "/" +
                                             pct(t["infra_error_rate"].get(n), 0) for n in names]
                for t in ft["tasks"][:15]]
        out.append(tabulate(rows, ["task", "pattern"] + [f"{n} pass/infra %" for n in names], tablefmt=fmt,
                            disable_numparse=True))
    if ft.get("note"):
        out.append(ft["note"])
    out.extend(_drift_lines(doc["drift"], fmt, head))
    if doc["warnings"] or doc["notes"]:
        out.append(head("Notes"))
        out.extend(f"warning: {w}" for w in doc["warnings"])
        out.extend(f"- {n}" for n in doc["notes"])
    return "\n".join(out) + "\n"


def _sentence(c: dict[str, Any], doc: dict[str, Any]) -> str:
    v = {"equivalent": f"equivalent within ±{doc['margin_points']:g} points",
         "different": "significantly different", "inconclusive": "inconclusive"}[c["equivalence"]]
    s = (f"{c['profile']} vs {c['baseline']}: success {pts(c['success_diff'])} points "
         f"{ci(c['success_diff_ci'], True)}, {peq(c['success_p'])} (Holm {pval(c['success_p_holm'])}) — "
         f"{v}; infra errors {pts(c['infra_diff'])} points, {peq(c['infra_p_paired'])} "
         f"(Holm {pval(c['infra_p_paired_holm'])}; {c['infra_paired_test']}).")
    if c.get("settle") and c["settle"].get("note"):
        s += f" To settle: {c['settle']['note']}."
    return s


def _trend_lines(t: dict[str, Any]) -> list[str]:
    lines = [f"Order ({t['axis'] or 'none'}): {' < '.join(t['order']) or '–'}; uncapped: {t['uncapped']}."]
    if t["note"]:
        return [*lines, t["note"]]
    for key, label in (("success", "success"), ("infra_error", "infra errors")):
        x = t[key]
        lines.append(f"{label}: Page's L = {_num(x['page_L'])}, {peq(x['page_p'])} "
                     f"(one-sided, {x['page_alternative']}); per-task slope {pts(x['slope_per_doubling'])} "
                     f"points per doubling, {peq(x['slope_p'])}; Cochran–Armitage z = "
                     f"{_num(x['armitage_z'])}, {peq(x['armitage_p'])} (trial-level)")
    return lines


def _drift_lines(d: dict[str, Any], fmt: str, head: Any) -> list[str]:
    from tabulate import tabulate

    out = [head("Drift (secondary: unadjusted)")]
    if d["time_blocks"]:
        tb = d["time_blocks"]
        out.append(tabulate([[b["start"], b["end"], b["n_trials"], pct(b["success_rate"]),
                              pct(b["infra_error_rate"])] for b in tb["blocks"]],
                            ["block start", "end", "trials", "success %", "infra %"], tablefmt=fmt,
                            disable_numparse=True))
        out.append(f"time blocks: success {peq(tb['success_p'])}, infra {peq(tb['infra_p'])}"
                   + (f" ({tb['note']})" if tb["note"] else ""))
    if d["hosts"]:
        h = d["hosts"]
        out.append(tabulate([[x["host"], x["n_trials"], pct(x["success_rate"]), pct(x["infra_error_rate"])]
                             for x in h["hosts"]], ["host", "trials", "success %", "infra %"], tablefmt=fmt,
                            disable_numparse=True))
        out.append(f"hosts: success {peq(h['success_p'])}, infra {peq(h['infra_p'])}"
                   + (f" ({h['note']})" if h["note"] else ""))
    if d["note"]:
        out.append(d["note"])
    out.append(f"test: {d['test']}")
    return out


def _or(c: dict[str, Any]) -> str:
    o, (lo, hi) = c["infra_odds_ratio"], c["infra_odds_ratio_ci"]
    return "–" if o is None else f"{o:.2f} [{_num(lo)}, {_num(hi)}]"


def _num(v: float | None) -> str:
    return "–" if v is None else f"{v:.3g}"


def _mult(v: float | None) -> str:
    return "none" if v is None else f"{v:g}"


def _gib(v: Any) -> str:
    return f"{v / 2**30:.1f}" if isinstance(v, int | float) else "?"
