"""A trial's memory and CPU over time: sampled by the runner's wait loop, written beside the logs.

The runner polls ``memory.events`` and the main process's pidfd; the poll's timeout is
the next sample's time, so sampling costs no thread. The interval adapts to the trial:
while memory moves it is ``first`` seconds at the start (where install spikes live), then
a fixed fraction of the elapsed time; while memory stays flat it doubles; it never exceeds
``longest``. A 10-minute trial whose memory always moves gets about 160 samples, an idle
one a few dozen. An OOM kill, a timeout and the end are marked, each with a sample then.

Samples can miss a spike between two of them: ``memory.peak`` (also sampled, when the
kernel has it) stays the peak of record, and the record's ``memory_peak_bytes`` is it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.cgroup.fs import parse_keyed
from harness.cgroup.group import Cgroup
from harness.errors import ResultsError, UsageError

SCHEMA = 1
FILE_NAME = "timeline.json"
COLUMNS = ("t_ms", "memory_current", "memory_peak", "cpu_usage_usec", "cpu_throttled_usec")
DEFAULT_FIRST = 0.1  # seconds between samples at the start
# An OOM kill with memory.oom.group raises oom_kill once per process it kills, and a reader
# may see the count part-way: rises this close together are one kill, marked once.
OOM_BURST_MS = 250


@dataclass(frozen=True)
class SamplePolicy:
    """When to sample: every ``first`` s, later every ``ratio`` × elapsed, at most ``longest`` s apart;
    doubling while memory changes by less than ``flat`` (a fraction, or 1 MiB)."""

    first: float = DEFAULT_FIRST
    ratio: float = 0.10
    longest: float = 5.0
    flat: float = 0.02

    def __post_init__(self) -> None:
        if not (math.isfinite(self.first) and self.first > 0):
            raise UsageError(f"sample interval {self.first!r} is not a positive number of seconds",
                             "give e.g. --sample-interval 0.1, or 0 for no timeline")

    def interval(self, elapsed: float, last: float | None = None, moved: bool = True) -> float:
        """The next interval, ``elapsed`` s in, after an interval of ``last`` s in which memory
        ``moved`` (or not)."""
        base = max(self.first, elapsed * self.ratio)
        if not moved and last is not None:
            base = max(base, 2 * last)
        return min(max(self.longest, self.first), base)

    def to_dict(self) -> dict[str, float]:
        return {"first": self.first, "ratio": self.ratio, "longest": self.longest, "flat": self.flat}


def policy_for(interval: float | None) -> SamplePolicy | None:
    """``--sample-interval`` → a policy; 0 or None → no sampling."""
    return None if not interval else SamplePolicy(first=float(interval))


class Sampler:
    """Reads ``memory.current``, ``memory.peak`` and ``cpu.stat`` through descriptors kept open."""

    def __init__(self, cg: Cgroup, policy: SamplePolicy, t0: float) -> None:
        self.policy = policy
        self.t0 = t0
        self.samples: list[list[int | None]] = []
        self.events: list[dict[str, Any]] = []
        self._fds = {name: _open(cg, name) for name in ("memory.current", "memory.peak", "cpu.stat")}
        self.next_at = t0
        self._last_interval: float | None = None

    def due(self, now: float) -> None:
        if now >= self.next_at:
            self.sample(now)

    def sample(self, now: float) -> None:
        cpu = parse_keyed(self._read("cpu.stat") or "")
        row = [round((now - self.t0) * 1000), _int(self._read("memory.current")),
               _int(self._read("memory.peak")), cpu.get("usage_usec"), cpu.get("throttled_usec")]
        moved = not self.samples or _moved(self.samples[-1], row, self.policy.flat)
        self.samples.append(row)
        self._last_interval = self.policy.interval(now - self.t0, self._last_interval, moved)
        self.next_at = now + self._last_interval

    def mark(self, now: float, kind: str, **data: Any) -> None:
        """An event (``oom_kill``, ``timeout``, ``kill``, ``exit``) with a sample at that moment;
        an ``oom_kill`` right after another only updates its data (see OOM_BURST_MS)."""
        t_ms = round((now - self.t0) * 1000)
        last = self.events[-1] if self.events else None
        if (kind == "oom_kill" and last is not None and last["kind"] == "oom_kill"
                and t_ms - last["t_ms"] <= OOM_BURST_MS):
            last.update(data)
        else:
            self.events.append({"t_ms": t_ms, "kind": kind, **data})
        self.sample(now)

    def close(self) -> None:
        for fd in self._fds.values():
            if fd is not None:
                os.close(fd)
        self._fds = {}

    def _read(self, name: str) -> str | None:
        fd = self._fds.get(name)
        if fd is None:
            return None
        try:
            return os.pread(fd, 4096, 0).decode()
        except OSError:  # the cgroup is going away
            return None

    def document(self, started_at: str, limits: dict[str, str], peak: int | None) -> dict[str, Any]:
        # t0_monotonic: CLOCK_MONOTONIC at t = 0, to line samples up with a workload's own stamps
        return {"schema": SCHEMA, "started_at": started_at, "t0_monotonic": round(self.t0, 4),
                "policy": self.policy.to_dict(),
                "limits": limits, "memory_peak_bytes": peak, "columns": list(COLUMNS),
                "samples": self.samples, "events": self.events}


def _moved(before: list[int | None], after: list[int | None], flat: float) -> bool:
    """Did memory.current or memory.peak change by more than ``flat`` (or 1 MiB)?"""
    for i in (1, 2):
        a, b = before[i], after[i]
        if a is not None and b is not None and abs(b - a) > max(1 << 20, flat * max(a, b)):
            return True
    return False


def _open(cg: Cgroup, name: str) -> int | None:
    try:
        return os.open(cg.file(name), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:  # memory.peak before 5.19; cpu.stat without the cpu controller
        return None


def _int(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isdigit() else None


def write(path: Path, doc: dict[str, Any]) -> None:
    """Write the timeline (compact JSON) by rename, so a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    os.replace(tmp, path)


@dataclass(frozen=True)
class Timeline:
    """A timeline file as read back: columns by name, events, limits."""

    path: Path
    seconds: list[float]
    memory: list[int | None]
    peak: list[int | None]
    cpu_usec: list[int | None]
    throttled_usec: list[int | None]
    events: list[dict[str, Any]]
    limits: dict[str, str]
    memory_peak_bytes: int | None

    @property
    def max_sampled(self) -> int | None:
        vals = [m for m in self.memory if m is not None]
        return max(vals) if vals else None


def read(path: Path) -> Timeline:
    """Read a timeline file; ResultsError naming the file when it is not one."""
    try:
        doc = json.loads(path.read_text())
        if doc.get("schema") != SCHEMA:
            raise ValueError(f"schema {doc.get('schema')!r}, expected {SCHEMA}")
        cols = {c: i for i, c in enumerate(doc["columns"])}
        rows = doc["samples"]

        def col(name: str) -> list[Any]:
            i = cols.get(name)
            return [None if i is None else r[i] for r in rows]

        return Timeline(path, [t / 1000 for t in col("t_ms")], col("memory_current"), col("memory_peak"),
                        col("cpu_usage_usec"), col("cpu_throttled_usec"), list(doc.get("events", [])),
                        dict(doc.get("limits") or {}), doc.get("memory_peak_bytes"))
    except OSError as e:
        raise ResultsError(f"{path}: cannot read the timeline: {e.strerror}",
                           "give a trial that was run with sampling on (the default)") from None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ResultsError(f"{path}: not a timeline file ({e})",
                           "the file is damaged; its trial's record still holds memory.peak") from None
