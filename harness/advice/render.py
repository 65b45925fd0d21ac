"""Spec advice as a text table, and as the overrides file a sweep takes back."""

from __future__ import annotations

from harness.advice.advise import Rule, TaskAdvice
from harness.sweep import overrides as spec_overrides
from harness.sweep.profiles import multiple_name
from harness.units import format_size


def _mib(n: int | None, lower: bool = False) -> str:
    if n is None:
        return "-"
    return ("≥" if lower else "") + (format_size(n) if n % (1 << 20) == 0 else f"{n / (1 << 20):.1f}M")


def table(advice: list[TaskAdvice], rule: Rule) -> str:
    head = ["task", "declared", "trials", "peak med", f"p{rule.quantile * 100:g}", "max", "killed ≥",
            "CPU s", f"CPUs p{rule.quantile * 100:g}", "thr.", "guarantee", "threshold", "cpus", "flags"]
    rows = []
    for a in advice:
        rows.append([
            a.task, f"{_mib(a.declared_memory_bytes)}/{a.declared_cpus:g}cpu" if a.declared_cpus else
            _mib(a.declared_memory_bytes), f"{a.n_passed}/{a.n_trials} ok, {a.n_oom_killed} oom",
            _mib(a.peak_median), _mib(a.peak_quantile), _mib(a.peak_max), _mib(a.lower_bound_max, lower=True),
            "-" if a.cpu_seconds_median is None else f"{a.cpu_seconds_median:.2f}",
            "-" if a.cpus_used_quantile is None else f"{a.cpus_used_quantile:.2f}",
            "-" if a.throttled_share is None else f"{a.throttled_share:.0%}",
            _mib(a.guarantee_bytes), _mib(a.kill_threshold_bytes),
            "-" if a.cpus is None else f"{a.cpus:g}", ", ".join(a.flags) or "-"])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    lines = ["  ".join(f"{x!s:<{w}}" for x, w in zip(r, widths, strict=True)).rstrip()
             for r in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += ["", "peaks: memory.peak of the trials that ran to their end; 'killed ≥': the largest",
              "lower bound from trials OOM-killed or timed out. thr.: share of cpu.max periods throttled.",
              "", "rule:"]
    lines += [f"  - {r}" for r in rule.describe()]
    notes = [f"  - {a.task}: {n}" for a in advice for n in a.notes]
    if notes:
        lines += ["", "notes:", *notes]
    return "\n".join(lines)


def overrides_text(advice: list[TaskAdvice], rule: Rule, command: str) -> str:
    from harness.advice.advise import overrides_of

    comments = {}
    for a in advice:
        bits = [f"declared {_mib(a.declared_memory_bytes)}/{a.declared_cpus or '?'}cpu"]
        if a.kill_threshold_bytes:
            bits.append(f"advised kill threshold {_mib(a.kill_threshold_bytes)}")
        if a.flags:
            bits.append("flags: " + ", ".join(a.flags))
        comments[a.task] = "; ".join(bits)
    header = (f"Spec overrides written by: {command}\n"
              f"memory = the advised guarantee (the new 1x); the advised kill threshold is "
              f"{rule.band:g}x of it.\n"
              f"Next: harness sweep SUITE --spec-overrides THIS_FILE "
              f"--profiles 1x,{multiple_name(rule.band)} ...")
    return spec_overrides.render(overrides_of(advice), comments, header)
