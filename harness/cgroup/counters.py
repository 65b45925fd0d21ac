"""What a trial cgroup counted: memory events, peak, CPU time and throttling, pids, PSI."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.cgroup import fs
from harness.cgroup.group import Cgroup
from harness.schema.record import MEMORY_EVENT_KEYS

LIMIT_FILES = ("memory.low", "memory.min", "memory.max", "memory.high", "memory.swap.max",
               "memory.oom.group", "cpu.max", "cpu.weight", "pids.max")


@dataclass
class Counters:
    memory_events: dict[str, int] = field(default_factory=dict)
    memory_peak_bytes: int | None = None
    cpu: dict[str, int] = field(default_factory=dict)
    pids_peak: int | None = None
    pids_max_events: int | None = None
    pressure: dict[str, dict[str, int]] | None = None


def memory_events(cg: Cgroup) -> dict[str, int]:
    events = cg.keyed("memory.events") or {}
    return {k: events.get(k, 0) for k in MEMORY_EVENT_KEYS}


def collect(cg: Cgroup) -> Counters:
    """Read every counter; call before rmdir, which takes them with it."""
    c = Counters(memory_events=memory_events(cg))
    peak = cg.read_optional("memory.peak")  # 5.19+; older kernels have no peak
    c.memory_peak_bytes = int(peak) if peak and peak.isdigit() else None
    c.cpu = cg.keyed("cpu.stat") or {}
    pids_peak = cg.read_optional("pids.peak")
    c.pids_peak = int(pids_peak) if pids_peak and pids_peak.isdigit() else None
    pids_events = cg.keyed("pids.events")
    c.pids_max_events = None if pids_events is None else pids_events.get("max", 0)
    # PSI is optional: kernels without CONFIG_PSI (the UML one) have no *.pressure files.
    pressure = {}
    for res in ("memory", "cpu", "io"):
        text = cg.read_optional(f"{res}.pressure")
        if text:
            pressure[res] = fs.parse_pressure(text)
    c.pressure = pressure or None
    return c


def read_limits(cg: Cgroup) -> dict[str, str]:
    """The limit files as the kernel reports them (it rounds to pages)."""
    out = {}
    for name in LIMIT_FILES:
        value = cg.read_optional(name)
        if value is not None:
            out[name] = value
    return out


def ancestor_ooms(cg: Cgroup) -> int:
    """How often the limits of ``cg``'s ancestors were hit so far.

    ``memory.events.local`` counts a cgroup's own limit only (``memory.events`` adds its
    descendants'), so a rise here means a limit above the trial ran out, not its own.
    """
    total = 0
    parent = cg.path.parent
    while (parent / "memory.events.local").exists():
        events = Cgroup(parent).keyed("memory.events.local") or {}
        total += events.get("oom", 0)
        parent = parent.parent
    return total

