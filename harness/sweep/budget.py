"""Admission for concurrent trials: never promise more than the machine has.

A running trial holds its *guarantee*: its memory guarantee (``memory.low``/``memory.min``,
the task's spec under every default profile) and its declared CPUs (what ``cpu.weight``
promises it; less where ``cpu.max`` is lower). A trial starts only while the guarantees
of the running trials plus its own, plus a reserve, stay within the host's memory and
CPUs, and fewer than ``concurrency`` trials run. The holding lasts the whole trial, the
agent and the verifier.

The reserve, chosen so: memory ``max(128 MiB, min(4 GiB, 10 % of the host))``, at most
half the host — room for the kernel, the harness and the unprotected verifier; CPUs 0 by
default, since the harness spends its time waiting (cpu.weight only shares CPUs out under
contention, so an unbudgeted harness cannot starve a trial of its share for long).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.errors import UsageError
from harness.units import format_size

if TYPE_CHECKING:
    from harness.limits import LimitSettings
    from harness.schema.manifest import BudgetInfo

MIB = 1 << 20
GIB = 1 << 30
RESERVE_MIN_BYTES = 128 * MIB
RESERVE_MAX_BYTES = 4 * GIB
RESERVE_FRACTION = 0.10


def default_memory_reserve(host_memory_bytes: int) -> int:
    """max(128 MiB, min(4 GiB, 10 % of the host)), and never more than half the host."""
    want = max(RESERVE_MIN_BYTES, min(RESERVE_MAX_BYTES, int(host_memory_bytes * RESERVE_FRACTION)))
    return min(want, host_memory_bytes // 2)


@dataclass(frozen=True)
class Demand:
    """What one trial holds while it runs. CPUs in thousandths, so sums stay exact."""

    memory_bytes: int
    millicpus: int

    @classmethod
    def of(cls, limits: LimitSettings) -> Demand:
        cpus = limits.declared_cpus or 0.0
        if limits.cpu_max_cpus is not None:
            cpus = min(cpus, limits.cpu_max_cpus)
        return cls(limits.memory_guarantee_bytes or 0, round(cpus * 1000))


class Budget:
    """The host's memory and CPUs less a reserve, handed out to running trials.

    ``try_start`` checks and takes in one step under a lock, for threaded executors.
    """

    def __init__(self, host_memory_bytes: int, host_cpus: float, concurrency: int,
                 memory_reserve_bytes: int | None = None, cpu_reserve: float = 0.0) -> None:
        if concurrency < 1:
            raise UsageError(f"--concurrency {concurrency}: must be at least 1", "give 1 or more")
        if memory_reserve_bytes is None:
            memory_reserve_bytes = default_memory_reserve(host_memory_bytes)
        self.host_memory_bytes = host_memory_bytes
        self.host_cpus = host_cpus
        self.concurrency = concurrency
        self.memory_reserve_bytes = memory_reserve_bytes
        self.cpu_reserve = cpu_reserve
        self.memory_capacity = max(0, host_memory_bytes - memory_reserve_bytes)
        self.millicpu_capacity = max(0, round((host_cpus - cpu_reserve) * 1000))
        self.running = 0
        self.used_memory = 0
        self.used_millicpus = 0
        self._lock = threading.Lock()

    @classmethod
    def for_host(cls, concurrency: int, memory_reserve_bytes: int | None = None,
                 cpu_reserve: float = 0.0) -> Budget:
        """The budget of this machine: its physical memory and the CPUs this process may use."""
        import psutil

        try:
            cpus = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            cpus = os.cpu_count() or 1
        return cls(psutil.virtual_memory().total, cpus, concurrency, memory_reserve_bytes, cpu_reserve)

    def why_never_fits(self, limits: LimitSettings) -> str | None:
        """Why a trial could not start even on an idle machine, or None if it could."""
        d = Demand.of(limits)
        reasons = []
        if d.memory_bytes > self.memory_capacity:
            reasons.append(f"its memory guarantee {format_size(d.memory_bytes)} exceeds the "
                           f"{format_size(self.memory_capacity)} available (host "
                           f"{format_size(self.host_memory_bytes)} less a reserve of "
                           f"{format_size(self.memory_reserve_bytes)})")
        if d.millicpus > self.millicpu_capacity:
            reasons.append(f"its {d.millicpus / 1000:g} CPUs exceed the {self.millicpu_capacity / 1000:g} "
                           f"available (host {self.host_cpus:g} less a reserve of {self.cpu_reserve:g})")
        return "; ".join(reasons) or None

    def fits_ever(self, limits: LimitSettings) -> bool:
        return self.why_never_fits(limits) is None

    def can_start(self, limits: LimitSettings) -> bool:
        """True if the trial fits beside the running ones now."""
        d = Demand.of(limits)
        return (self.running < self.concurrency
                and self.used_memory + d.memory_bytes <= self.memory_capacity
                and self.used_millicpus + d.millicpus <= self.millicpu_capacity)

    def start(self, limits: LimitSettings) -> None:
        """Take the trial's guarantee; ValueError if it does not fit now."""
        if not self.try_start(limits):
            raise ValueError(f"trial does not fit the budget now: {self}")

    def try_start(self, limits: LimitSettings) -> bool:
        with self._lock:
            if not self.can_start(limits):
                return False
            d = Demand.of(limits)
            self.running += 1
            self.used_memory += d.memory_bytes
            self.used_millicpus += d.millicpus
            return True

    def finish(self, limits: LimitSettings) -> None:
        """Give back what ``start`` took for these limits."""
        with self._lock:
            d = Demand.of(limits)
            if self.running < 1 or self.used_memory < d.memory_bytes or self.used_millicpus < d.millicpus:
                raise ValueError("finish() without a matching start()")
            self.running -= 1
            self.used_memory -= d.memory_bytes
            self.used_millicpus -= d.millicpus

    def describe(self) -> BudgetInfo:
        """The budget's parameters, for the manifest."""
        from harness.schema.manifest import BudgetInfo

        return BudgetInfo(host_memory_bytes=self.host_memory_bytes, host_cpus=self.host_cpus,
                          concurrency=self.concurrency, memory_reserve_bytes=self.memory_reserve_bytes,
                          cpu_reserve=self.cpu_reserve, memory_capacity_bytes=self.memory_capacity,
                          cpu_capacity=self.millicpu_capacity / 1000)

    def __str__(self) -> str:
        return (f"{self.running}/{self.concurrency} running, memory {format_size(self.used_memory)} of "
                f"{format_size(self.memory_capacity)}, CPUs {self.used_millicpus / 1000:g} of "
                f"{self.millicpu_capacity / 1000:g}")


def check_plan(budget: Budget, trials: Iterable[tuple[str, LimitSettings]]) -> None:
    """Refuse up front trials that could never start, naming each task/profile and the numbers.

    ``trials`` are (trial id ``task/profile/repeat``, resolved limits) pairs.
    """
    problems: dict[str, str] = {}
    for tid, limits in trials:
        pair = tid.rsplit("/", 1)[0]
        if pair not in problems:
            why = budget.why_never_fits(limits)
            if why:
                problems[pair] = f"{pair.replace('/', ' under ', 1)}: {why}"
    if problems:
        raise UsageError(
            f"{len(problems)} task/profile pair(s) could never start on this host:\n"
            + "\n".join(f"  - {p}" for p in problems.values()),
            "run them on a larger machine, leave those tasks out (--tasks) or lower the guarantee "
            "in a sweep file")
