"""Resource limits of one trial, and the cgroup files that express them: the one limits type
from a profile (`Profile.resolve`) or `harness run`'s flags to the runner and the record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from harness.errors import UsageError

CPU_PERIOD_USEC = 100_000
MIN_CPU_QUOTA_USEC = 1_000  # the kernel refuses quotas under 1 ms
DEFAULT_PIDS_MAX = 4096  # ample for builds and test runners, stops a fork bomb early
PAGE = 4096

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
        if self.pids_max is not None and self.pids_max < 1:
            raise UsageError("--pids-max must be at least 1", "give a positive count, or max")

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
