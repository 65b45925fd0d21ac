"""Text (tabulate) and markdown renderings of the typed report document."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from harness.report.document import Comparison, Drift, Report, Trend

Head = Callable[[str], str]


def _missing(v: float | None) -> bool:
    return v is None or not math.isfinite(v)


def pct(v: float | None, digits: int = 1) -> str:
    return "–" if v is None or _missing(v) else f"{v * 100:.{digits}f}"


def pts(v: float | None) -> str:
    return "–" if v is None or _missing(v) else f"{v * 100:+.2f}"


def ci(pair: Sequence[float | None] | None, signed: bool = False) -> str:
    if not pair or _missing(pair[0]) or _missing(pair[1]):
        return "–"
    f = pts if signed else pct
    return f"[{f(pair[0])}, {f(pair[1])}]"


def pval(p: float | None) -> str:
    if p is None or _missing(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def peq(p: float | None) -> str:
    """'p = 0.040' or 'p < 0.001'."""
    s = pval(p)
    return "p < 0.001" if s == "<0.001" else f"p = {s}"


def render_text(report: Report) -> str:
    """The report as plain-text tables and verdict sentences."""
    return _render(report, "simple", lambda s: f"\n{s}\n{'=' * len(s)}")


def render_markdown(report: Report) -> str:
    return _render(report, "github", lambda s: f"\n## {s}\n")


def _render(doc: Report, fmt: str, head: Head) -> str:
    from tabulate import tabulate

    out: list[str] = []
    sw = doc.sweep
    out.append(f"Sweep {', '.join(sw.sweep_ids)} — suite {sw.suite} — {sw.n_trials} trials, "
               f"{sw.n_tasks} tasks, host(s) {', '.join(sw.hosts)}")
    out.append(f"Baseline {doc.baseline}, margin ±{doc.margin_points:g} points, α = {doc.alpha:g}. "
               "Rates in %, differences in points.")
    out.append(head("What this n can settle"))
    out.extend(doc.capacity.summary if doc.capacity else
               ("fewer than three tasks in common with the baseline: nothing can be settled",))
    out.append(head("Set-up (from the manifest)"))
    rows: list[list[Any]] = []
    for run in doc.setup.runs:
        h = run.get("host") or {}
        rows.append([run["dir"], run.get("backend"), h.get("kernel"), h.get("cpu_model"), h.get("cores"),
                     _gib(h.get("memory_bytes")), _gib(h.get("swap_bytes")), run.get("concurrency"),
                     run.get("seed"), run.get("harness_version"), run.get("shard")])
    out.append(tabulate(rows, ["dir", "backend", "kernel", "cpu", "cores", "mem GiB", "swap GiB",
                               "concurrency", "seed", "harness", "shard"], tablefmt=fmt))
    out.append(head("Profiles"))
    rows = [[p.name, _mult(p.memory_multiplier), _mult(p.cpu_multiplier), p.n_tasks, p.n_trials, p.repeats,
             f"{pct(p.success_rate)} ± {pct(p.success_se)}", ci(p.success_ci), ci(p.success_wilson_ci),
             pct(p.success_rate_excluding_infra), pct(p.task_failure_rate),
             f"{pct(p.infra_error_rate)} ± {pct(p.infra_error_se)}", ci(p.infra_error_ci)]
            for p in doc.profiles]
    cols = ["profile", "mem×", "cpu×", "tasks", "trials", "K", "success ± SE", "95% CI", "Wilson (trial)",
            "succ. excl. infra", "task fail", "infra ± SE", "infra 95% CI (KG)"]
    if any(p.timeout_multiplier != 1.0 for p in doc.profiles):  # a timeout sweep: its factor too
        rows = [[*r[:3], _mult(p.timeout_multiplier), *r[3:]]
                for r, p in zip(rows, doc.profiles, strict=True)]
        cols = [*cols[:3], "timeout×", *cols[3:]]
    out.append(tabulate(rows, cols, tablefmt=fmt, disable_numparse=True))
    out.append(head(f"Against {doc.baseline} (paired by task)"))
    rows = [[c.profile, c.n_tasks, pts(c.success_diff), ci(c.success_diff_ci, True), pval(c.success_p),
             pval(c.success_p_holm), c.equivalence, pts(c.infra_diff), ci(c.infra_diff_ci, True),
             pval(c.infra_p_paired), pval(c.infra_p_paired_holm), pval(c.infra_p), _or(c)]
            for c in doc.comparisons]
    out.append(tabulate(rows, ["profile", "tasks", "Δ success", "95% CI", "p", "p Holm", "equivalence",
                               "Δ infra", "95% CI", "p (tasks)", "p Holm", "p trials (ref.)",
                               "odds ratio [CI] (ref.)"], tablefmt=fmt, disable_numparse=True))
    out.append("Primary family (Holm): success and infra errors of every profile; 'p trials' and the "
               "odds ratio treat trials as independent and are references only.")
    out.append("")
    out.extend(_sentence(c, doc.margin_points) for c in doc.comparisons)
    o = doc.overall
    out.append(f"\nAll profiles at once ({o.test}; secondary): chi2 = {_num(o.chi2)}, dof = {o.dof}, "
               f"{peq(o.p)}" + (f" ({o.note})" if o.note else ""))
    out.append(head("Trend over the limit (secondary: unadjusted)"))
    out.extend(_trend_lines(doc.trend))
    rec = doc.recommendation
    out.append(head("Recommended limit (calibrated band)"))
    out.append(f"{rec.verdict.upper()}: {rec.profile or 'no profile'} — {rec.reason}.")
    out.append(f"Rule: {rec.criterion}.")
    if rec.settle is not None:
        out.append(f"To settle ({rec.settle.profile}): {rec.settle.note}")
    ft = doc.flipping_tasks
    out.append(head(f"Tasks that flip ({ft.count}; {ft.rule})"))
    if ft.tasks:
        names = [p.name for p in doc.profiles]
        rows = [[t.task, t.pattern] + [pct(t.success_rate.get(n), 0) + "/" + pct(t.infra_error_rate.get(n), 0)
                                       for n in names] for t in ft.tasks[:15]]
        out.append(tabulate(rows, ["task", "pattern"] + [f"{n} pass/infra %" for n in names], tablefmt=fmt,
                            disable_numparse=True))
    if ft.note:
        out.append(ft.note)
    out.extend(_drift_lines(doc.drift, fmt, head))
    if doc.warnings or doc.notes:
        out.append(head("Notes"))
        out.extend(f"warning: {w}" for w in doc.warnings)
        out.extend(f"- {n}" for n in doc.notes)
    return "\n".join(out) + "\n"


def _sentence(c: Comparison, margin_points: float) -> str:
    v = {"equivalent": f"equivalent within ±{margin_points:g} points",
         "different": "significantly different", "inconclusive": "inconclusive"}[c.equivalence]
    s = (f"{c.profile} vs {c.baseline}: success {pts(c.success_diff)} points "
         f"{ci(c.success_diff_ci, True)}, {peq(c.success_p)} (Holm {pval(c.success_p_holm)}) — "
         f"{v}; infra errors {pts(c.infra_diff)} points, {peq(c.infra_p_paired)} "
         f"(Holm {pval(c.infra_p_paired_holm)}; {c.infra_paired_test}).")
    if c.settle is not None and c.settle.note:
        s += f" To settle: {c.settle.note}."
    return s


def _trend_lines(t: Trend) -> list[str]:
    lines = [f"Order ({t.axis or 'none'}): {' < '.join(t.order) or '–'}; uncapped: {t.uncapped}."]
    if t.note:
        return [*lines, t.note]
    for x, label in ((t.success, "success"), (t.infra_error, "infra errors")):
        if x is None:
            continue
        lines.append(f"{label}: Page's L = {_num(x.page_L)}, {peq(x.page_p)} "
                     f"(one-sided, {x.page_alternative}); per-task slope {pts(x.slope_per_doubling)} "
                     f"points per doubling, {peq(x.slope_p)}; Cochran–Armitage z = "
                     f"{_num(x.armitage_z)}, {peq(x.armitage_p)} (trial-level)")
    return lines


def _drift_lines(d: Drift, fmt: str, head: Head) -> list[str]:
    from tabulate import tabulate

    out = [head("Drift (secondary: unadjusted)")]
    if d.time_blocks is not None:
        tb = d.time_blocks
        out.append(tabulate([[b.start, b.end, b.n_trials, pct(b.success_rate), pct(b.infra_error_rate)]
                             for b in tb.blocks], ["block start", "end", "trials", "success %", "infra %"],
                            tablefmt=fmt, disable_numparse=True))
        out.append(f"time blocks: success {peq(tb.success_p)}, infra {peq(tb.infra_p)}"
                   + (f" ({tb.note})" if tb.note else ""))
    if d.hosts is not None:
        h = d.hosts
        out.append(tabulate([[x.host, x.n_trials, pct(x.success_rate), pct(x.infra_error_rate)]
                             for x in h.hosts], ["host", "trials", "success %", "infra %"], tablefmt=fmt,
                            disable_numparse=True))
        out.append(f"hosts: success {peq(h.success_p)}, infra {peq(h.infra_p)}"
                   + (f" ({h.note})" if h.note else ""))
    if d.note:
        out.append(d.note)
    out.append(f"test: {d.test}")
    return out


def _or(c: Comparison) -> str:
    o, (lo, hi) = c.infra_odds_ratio, c.infra_odds_ratio_ci
    return "–" if _missing(o) else f"{o:.2f} [{_num(lo)}, {_num(hi)}]"


def _num(v: float | None) -> str:
    return "–" if v is None or _missing(v) else f"{v:.3g}"


def _mult(v: float | None) -> str:
    return "none" if v is None else f"{v:g}"


def _gib(v: Any) -> str:
    return f"{v / 2**30:.1f}" if isinstance(v, int | float) else "?"
