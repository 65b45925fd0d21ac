"""Per-task spec advice from trial records: observed peaks and CPU against the declared spec.

No I/O and no numpy: records in, one `TaskAdvice` per task out. The rule is part of the
output (`Rule.describe`), so a reader can check every number.

A trial OOM-killed at its limit, or stopped by its timeout, never showed its whole peak:
its ``memory.peak`` is a lower bound, kept apart from the peaks of trials that ran to
their end. The guarantee comes from the passing trials' peaks only.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.limits import MIN_MEMORY_LIMIT_BYTES

MIB = 1 << 20
CPU_STEP = 0.25  # advised CPUs are rounded up to this
# A trial shorter than this says little about CPU need: the spawn before exec and what its
# processes did after the main one ended count in cpu.stat but not in the wall time, so a
# 10 ms trial in a one-CPU guest read as 1.5 CPUs (and the advice could never start there).
MIN_CPU_WALL = 1.0


@dataclass(frozen=True)
class Rule:
    """How advice is made from the observations."""

    quantile: float = 0.9  # of the passing trials' peaks, for the guarantee
    headroom: float = 0.10  # added to that quantile
    band: float = 3.0  # kill threshold = band × guarantee (the calibrated band)
    band_source: str = "the article's 3x: these sweeps settle no band"
    above: float = 1.2  # flag: peaks above this multiple of the declared memory
    below: float = 0.5  # flag: no peak ever reached this fraction of the declared memory

    def describe(self) -> list[str]:
        q = f"p{self.quantile * 100:g}"
        return [
            f"guarantee = {q} of the passing trials' memory.peak + {self.headroom:.0%}, rounded up to 1 MiB "
            f"(at least {MIN_MEMORY_LIMIT_BYTES >> 20} MiB, the least limit a sweep accepts)",
            f"kill threshold = {self.band:g} × guarantee ({self.band_source}), and at least the largest "
            f"peak seen + {self.headroom:.0%}",
            f"CPUs = {q} of the passing trials' CPU use (cpu.stat usage / wall, trials of {MIN_CPU_WALL:g} s "
            "or more, at most the CPUs their cpu.max allowed), rounded up to "
            f"{CPU_STEP:g}",
            f"flag 'memory above spec': a peak (or an OOM kill's lower bound) above {self.above:g} × the "
            "declared memory",
            f"flag 'memory far below spec': no trial's peak reached {self.below:g} × the declared memory",
            "a trial OOM-killed or timed out gives only a lower bound on its peak (shown as ≥)",
        ]


@dataclass(frozen=True)
class TaskAdvice:
    task: str
    declared_memory_bytes: int | None
    declared_cpus: float | None
    n_trials: int
    n_passed: int
    n_lower_bound: int  # OOM-killed or timed out: peak is a lower bound
    n_oom_killed: int
    peak_median: int | None  # of the trials that ran to their end
    peak_quantile: int | None
    peak_max: int | None
    lower_bound_max: int | None  # largest peak among the killed/timed-out trials
    cpu_seconds_median: float | None
    cpus_used_quantile: float | None  # of passing trials
    throttled_share: float | None  # Σ nr_throttled / Σ nr_periods
    guarantee_bytes: int | None
    kill_threshold_bytes: int | None
    cpus: float | None
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def quantile(values: Sequence[float], q: float) -> float:
    """Nearest-rank quantile (an observed value; the max for q near 1 with few values)."""
    s = sorted(values)
    return s[max(0, min(len(s) - 1, math.ceil(q * len(s)) - 1))]


def _median(values: Sequence[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def _round_up(x: float, step: float) -> float:
    return math.ceil(x / step - 1e-9) * step


def _killed(rec: dict[str, Any]) -> bool:
    events = rec.get("memory_events") or {}
    return bool(rec.get("oom_kill_source") or events.get("oom_kill"))


def advise(records: list[dict[str, Any]], rule: Rule) -> list[TaskAdvice]:
    """One advice per task of ``records`` (sweep trial records), sorted by task."""
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in records:
        if isinstance(rec.get("task"), str):
            by_task[rec["task"]].append(rec)
    return [_one(task, recs, rule) for task, recs in sorted(by_task.items())]


def _cpu_cap(rec: dict[str, Any]) -> float:
    """The CPUs the trial's cpu.max let it use (inf when unlimited or unknown)."""
    quota, _, period = str((rec.get("limits") or {}).get("cpu.max", "max")).partition(" ")
    try:
        return int(quota) / int(period or 100_000)
    except ValueError:
        return math.inf


def _one(task: str, recs: list[dict[str, Any]], rule: Rule) -> TaskAdvice:
    declared = _most_common([r.get("declared_memory_bytes") for r in recs])
    declared_cpus = _most_common([r.get("declared_cpus") for r in recs])
    whole, bounds, passing, cpu_pass, cpu_secs = [], [], [], [], []
    periods = throttled = 0
    n_passed = n_killed = 0
    for r in recs:
        peak = r.get("memory_peak_bytes")
        killed = _killed(r)
        n_killed += killed
        passed = r.get("outcome") == "passed"
        n_passed += passed
        if isinstance(peak, int):
            if killed or r.get("timed_out"):
                bounds.append(peak)
            else:
                whole.append(peak)
                if passed:
                    passing.append(peak)
        usage, wall = r.get("cpu_usage_usec"), r.get("wall_seconds")
        if isinstance(usage, int):
            cpu_secs.append(usage / 1e6)
            if passed and not killed and isinstance(wall, int | float) and wall >= MIN_CPU_WALL:
                cpu_pass.append(min(usage / 1e6 / wall, _cpu_cap(r)))
        periods += r.get("cpu_nr_periods") or 0
        throttled += r.get("cpu_nr_throttled") or 0
    notes: list[str] = []
    flags: list[str] = []
    guarantee = threshold = None
    if passing:
        # never below the least memory limit a sweep accepts: the advice must be runnable
        guarantee = max(MIN_MEMORY_LIMIT_BYTES,
                        int(_round_up(quantile(passing, rule.quantile) * (1 + rule.headroom), MIB)))
        seen = max(whole + bounds)
        threshold = int(max(_round_up(rule.band * guarantee, MIB),
                            _round_up(seen * (1 + rule.headroom), MIB)))
    else:
        notes.append("no passing trial ran to its end: no guarantee can be advised; sweep it with higher "
                     "limits (e.g. --profiles 5x,uncapped) to see its need")
    top = max(whole + bounds) if whole or bounds else None
    if declared and top is not None and top > rule.above * declared:
        flags.append("memory above spec")
    if declared and top is not None and not bounds and top < rule.below * declared:
        flags.append("memory far below spec")
    cpus = None
    if cpu_pass:
        cpus = max(CPU_STEP, _round_up(quantile(cpu_pass, rule.quantile), CPU_STEP))
    share = throttled / periods if periods else None
    if share is not None and share > 0.5:
        flags.append("CPU throttled")
    return TaskAdvice(
        task=task, declared_memory_bytes=declared, declared_cpus=declared_cpus, n_trials=len(recs),
        n_passed=n_passed, n_lower_bound=len(bounds), n_oom_killed=n_killed,
        peak_median=None if not whole else int(_median(whole)),
        peak_quantile=None if not whole else int(quantile(whole, rule.quantile)),
        peak_max=None if not whole else max(whole), lower_bound_max=max(bounds) if bounds else None,
        cpu_seconds_median=None if not cpu_secs else round(_median(cpu_secs), 3),
        cpus_used_quantile=None if not cpu_pass else round(quantile(cpu_pass, rule.quantile), 3),
        throttled_share=None if share is None else round(share, 4),
        guarantee_bytes=guarantee, kill_threshold_bytes=threshold, cpus=cpus, flags=flags, notes=notes)


def _most_common(values: list[Any]) -> Any:
    counts: dict[Any, int] = defaultdict(int)
    for v in values:
        if v is not None:
            counts[v] += 1
    return max(counts, key=lambda v: counts[v]) if counts else None


def overrides_of(advice: list[TaskAdvice]) -> dict[str, dict[str, Any]]:
    """What `harness sweep --spec-overrides` takes: the advised guarantee as the task's memory, and CPUs."""
    out: dict[str, dict[str, Any]] = {}
    for a in advice:
        entry: dict[str, Any] = {}
        if a.guarantee_bytes is not None:
            entry["memory_bytes"] = a.guarantee_bytes
        if a.cpus is not None:
            entry["cpus"] = a.cpus
        if entry:
            out[a.task] = entry
    return out
