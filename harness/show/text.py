"""A trial's timeline as text: memory against time, the limit and the guarantee as lines, the kill marked.

No colour, no plotting library: a grid of characters a terminal or a log shows as is.
"""

from __future__ import annotations

from typing import Any

from harness.runner.timeline import Timeline
from harness.units import format_size

WIDTH = 64
HEIGHT = 12
LEGEND = ("legend: * memory.current (sampled)  . memory.peak so far  = kill threshold (memory.max)  "
          "- guarantee (memory.low/min)  X OOM kill  T timeout")


def limit_bytes(limits: dict[str, str], name: str) -> int | None:
    """A limit file's value in bytes; None for ``max``, ``0`` or absent."""
    value = (limits.get(name) or "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def guarantee_bytes(limits: dict[str, str]) -> int | None:
    return limit_bytes(limits, "memory.min") or limit_bytes(limits, "memory.low")


def render(tl: Timeline, width: int = WIDTH, height: int = HEIGHT) -> str:
    """The chart, its axis labels and a legend; a note instead when there is nothing to draw."""
    points = [(t, m) for t, m in zip(tl.seconds, tl.memory, strict=True) if m is not None]
    if not points:
        return "timeline: no memory samples"
    kill = limit_bytes(tl.limits, "memory.max")
    guarantee = guarantee_bytes(tl.limits)
    peaks = [p for p in tl.peak if p is not None]
    top = max([m for _, m in points] + peaks + [v for v in (kill, guarantee) if v is not None])
    top = max(top, 1)
    t_end = max(tl.seconds[-1], 1e-3)
    grid = [[" "] * width for _ in range(height)]

    def row(value: int) -> int:
        return min(height - 1, round(value / top * (height - 1)))

    def col(t: float) -> int:
        return min(width - 1, round(t / t_end * (width - 1)))

    for value, ch in ((guarantee, "-"), (kill, "=")):
        if value is not None:
            grid[row(value)] = [ch] * width
    for t, p in zip(tl.seconds, tl.peak, strict=True):
        if p is not None:
            grid[row(p)][col(t)] = "."
    for t, m in points:
        grid[row(m)][col(t)] = "*"
    for ev in tl.events:
        mark = {"oom_kill": "X", "timeout": "T"}.get(str(ev.get("kind")))
        if mark:
            c = col(ev["t_ms"] / 1000)
            for r in range(height):
                if grid[r][c] == " ":
                    grid[r][c] = "|"
            grid[0][c] = mark  # on the time axis
    label_w = 7
    lines = []
    labelled = {0, height - 1} | {row(v) for v in (kill, guarantee) if v is not None}
    for r in range(height - 1, -1, -1):
        label = _size(top * r / (height - 1)) if r in labelled else ""
        lines.append(f"{label:>{label_w}} |{''.join(grid[r])}")
    lines.append(" " * label_w + " +" + "-" * width)
    lines.append(" " * label_w + f"  0 s{'':>{width - 12}}{t_end:.1f} s")
    lines.append(LEGEND)
    return "\n".join(lines)


def summary(tl: Timeline) -> list[tuple[str, str]]:
    """(what, value) lines under the chart."""
    out = [("samples", f"{len(tl.seconds)} over {tl.seconds[-1] if tl.seconds else 0:.1f} s")]
    sampled = tl.max_sampled
    out.append(("max sampled memory.current", _size(sampled)))
    out.append(("memory.peak (of record)", _size(tl.memory_peak_bytes)
                + ("" if sampled is None or tl.memory_peak_bytes is None
                   or tl.memory_peak_bytes <= sampled else "  (a spike fell between samples)")))
    cpu = [(t, c) for t, c in zip(tl.seconds, tl.cpu_usec, strict=True) if c is not None]
    if len(cpu) >= 2 and cpu[-1][0] > cpu[0][0]:
        used = (cpu[-1][1] - cpu[0][1]) / 1e6
        out.append(("CPU used", f"{used:.2f} s, {used / (cpu[-1][0] - cpu[0][0]):.2f} CPUs on average"))
    thr = [x for x in tl.throttled_usec if x is not None]
    if thr:
        out.append(("throttled by cpu.max", f"{thr[-1] / 1e6:.2f} s"))
    for ev in tl.events:
        if ev.get("kind") in ("oom_kill", "timeout"):
            out.append((str(ev["kind"]), f"at {ev['t_ms'] / 1000:.2f} s"))
    return out


def _size(n: float | int | None) -> str:
    if n is None:
        return "n/a"
    return format_size(int(n)) if int(n) % (1 << 20) == 0 else f"{n / (1 << 20):.1f}M"


def record_lines(rec: dict[str, Any]) -> list[tuple[str, str]]:
    """The fields of a trial record a person reads first."""
    keys = ("trial_id", "task", "profile", "outcome", "infra_reason", "agent_outcome", "exit_code",
            "signal", "timed_out", "wall_seconds", "agent_timeout_sec", "memory_peak_bytes",
            "declared_memory_bytes", "declared_cpus", "cpu_usage_usec", "cpu_throttled_usec",
            "oom_kill_source", "first_oom_kill_seconds", "started_at", "host")
    out = []
    for k in keys:
        if k in rec:
            v = rec[k]
            if k.endswith("_bytes") and isinstance(v, int):
                v = f"{v} ({_size(v)})"
            out.append((k, str(v)))
    lim = rec.get("limits") or {}
    for name in ("memory.low", "memory.min", "memory.max", "cpu.max"):
        if name in lim:
            out.append((name, lim[name]))
    ver = rec.get("verifier")
    if isinstance(ver, dict):
        out.append(("verifier", f"{ver.get('outcome')} (exit {ver.get('exit_code')}, "
                                f"reward {ver.get('reward')})"))
    return out
