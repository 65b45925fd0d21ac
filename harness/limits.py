"""Resource limits of one trial, and the cgroup files that express them: the one limits type
from a profile (`Profile.resolve`) or `harness run`'s flags to the runner and the record."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from harness.errors import UsageError

CPU_PERIOD_USEC = 100_000
MIN_CPU_QUOTA_USEC = 1_000  # the kernel refuses quotas under 1 ms
DEFAULT_PIDS_MAX = 4096  # ample for builds and test runners, stops a fork bomb early
PAGE = 4096
# What the kernel accepts (issue 11, item 13), checked before any trial starts rather than
# found out from EINVAL mid-sweep:
MAX_MEMORY_BYTES = (2**63 - 1) // PAGE * PAGE  # page_counter's limit: LONG_MAX, in pages
MAX_CPU_QUOTA_USEC = 2**44 - 1  # kernel/sched: max_cfs_runtime (MAX_BW) in µs
MAX_PIDS = 4 * 1024 * 1024  # PID_MAX_LIMIT on 64-bit: pids.max refuses more
# Below this a memory.max or memory.high leaves no room for even the shell that starts the
# workload: every trial would be an OOM kill before it execs, and a limit of a few bytes
# brought the UML guest's kernel down. Refused as bad input.
MIN_MEMORY_LIMIT_BYTES = 4 << 20

Protection = Literal["low", "min"]  # which file carries the guarantee: memory.low or memory.min
PROTECTIONS: tuple[Protection, ...] = ("low", "min")


def as_protection(value: str) -> Protection:
    for p in PROTECTIONS:
        if value == p:
            return p
    raise UsageError(f"protection {value!r} is neither low nor min",
                     "use --protection low (best effort, as Kubernetes) or min (hard)")


def cpu_weight_for(cpus: float | None) -> int:
    """cpu.weight for declared CPUs, as Kubernetes maps a CPU request (shares = 1024/CPU)
    to cgroup v2, so that contention splits the machine the way the article's cluster did."""
    if cpus is None:
        return 100
    shares = max(2, int(cpus * 1024))
    return max(1, min(10_000, 1 + ((shares - 2) * 9999) // 262_142))


@dataclass(frozen=True)
class LimitSettings:
    """Absolute values for one trial cgroup; ``None`` means no limit (``max``)."""

    memory_guarantee_bytes: int | None = None  # memory.low or memory.min
    protection: Protection = "low"
    memory_max_bytes: int | None = None
    memory_high_bytes: int | None = None
    swap_max_bytes: int | None = 0
    oom_group: bool = True
    cpu_max_cpus: float | None = None  # CPUs, for cpu.max
    declared_cpus: float | None = None  # for cpu.weight
    declared_memory_bytes: int | None = None  # the task's spec, the "1x"
    pids_max: int | None = DEFAULT_PIDS_MAX

    def __post_init__(self) -> None:
        as_protection(self.protection)
        g, m = self.memory_guarantee_bytes, self.memory_max_bytes
        if g is not None and m is not None and g > m:
            raise UsageError(f"the memory guarantee ({g} bytes) is above the limit ({m} bytes)",
                             "raise --memory-limit or lower --memory-guarantee")
        if self.pids_max is not None and not 1 <= self.pids_max <= MAX_PIDS:
            raise UsageError(f"pids.max {self.pids_max}: the kernel accepts 1 to {MAX_PIDS}",
                             "give a count in that range, or max")
        for what, value in (("the memory guarantee", g), ("memory.max", m),
                            ("memory.high", self.memory_high_bytes),
                            ("memory.swap.max", self.swap_max_bytes)):
            if value is not None and not 0 <= value <= MAX_MEMORY_BYTES:
                raise UsageError(f"{what} of {value} bytes: the kernel accepts 0 to {MAX_MEMORY_BYTES}",
                                 "give a smaller size, or max for no limit")
        for what, value in (("memory.max", m), ("memory.high", self.memory_high_bytes)):
            if value is not None and value < MIN_MEMORY_LIMIT_BYTES:
                raise UsageError(f"{what} of {value} bytes is below {MIN_MEMORY_LIMIT_BYTES >> 20} MiB, "
                                 "too little for any workload to start",
                                 "give a larger limit (a size such as 64M, or a multiple of a larger spec)")
        for what, cpus in (("the CPU limit", self.cpu_max_cpus), ("the declared CPUs", self.declared_cpus)):
            if cpus is not None and not (math.isfinite(cpus) and cpus > 0
                                         and cpus * CPU_PERIOD_USEC <= MAX_CPU_QUOTA_USEC):
                raise UsageError(f"{what} of {cpus!r} CPUs: the kernel accepts more than 0 and at most "
                                 f"{MAX_CPU_QUOTA_USEC // CPU_PERIOD_USEC} (cpu.max)",
                                 "give a CPU count in that range, or max for no limit")

    def files(self) -> dict[str, str]:
        """cgroup file → value to write, in the order to write them.

        memory.max goes after the guarantee and memory.high: lowering max below current
        usage triggers reclaim at once, and the guarantee should be in place by then.
        """
        out: dict[str, str] = {}
        out[f"memory.{self.protection}"] = _bytes(self.memory_guarantee_bytes, none="0")
        if self.memory_high_bytes is not None:
            out["memory.high"] = _bytes(self.memory_high_bytes)
        out["memory.max"] = _bytes(self.memory_max_bytes)
        if self.swap_max_bytes is not None:
            out["memory.swap.max"] = _bytes(self.swap_max_bytes)
        out["memory.oom.group"] = "1" if self.oom_group else "0"
        out["cpu.max"] = _cpu_max(self.cpu_max_cpus)
        out["cpu.weight"] = str(cpu_weight_for(self.declared_cpus))
        out["pids.max"] = "max" if self.pids_max is None else str(self.pids_max)
        return out


def _bytes(value: int | None, none: str = "max") -> str:
    # The kernel keeps limits in pages; round up so a limit never lands below what was asked.
    return none if value is None else str(-(-int(value) // PAGE) * PAGE)


def _cpu_max(cpus: float | None) -> str:
    if cpus is None:
        return f"max {CPU_PERIOD_USEC}"
    quota = max(MIN_CPU_QUOTA_USEC, round(cpus * CPU_PERIOD_USEC))
    return f"{quota} {CPU_PERIOD_USEC}"
