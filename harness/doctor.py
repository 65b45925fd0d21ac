"""What this host offers the harness, what it lacks, and the command that fixes each gap."""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.backends.protocol import in_guest
from harness.cgroup import discover
from harness.cgroup.workspace import CONTROLLERS, locate
from harness.errors import CgroupError


@dataclass
class Check:
    name: str
    ok: bool | None  # None: information only
    value: str
    fix: str | None = None


@dataclass
class Diagnosis:
    checks: list[Check] = field(default_factory=list)
    native_ready: bool = False
    uml_available: bool = False

    @property
    def auto_backend(self) -> str | None:
        if self.native_ready:
            return "native"
        return "uml" if self.uml_available else None

    def to_dict(self) -> dict[str, object]:
        return {"native_ready": self.native_ready, "uml_available": self.uml_available,
                "auto_backend": self.auto_backend, "checks": [asdict(c) for c in self.checks]}


def _kernel_at_least(release: str, major: int, minor: int) -> bool:
    try:
        parts = release.split(".")
        return (int(parts[0]), int(parts[1].split("-")[0])) >= (major, minor)
    except (IndexError, ValueError):
        return False


def diagnose(cgroup_root: Path | None = None) -> Diagnosis:
    d = Diagnosis()
    add = d.checks.append
    release = platform.release()
    add(Check("kernel", None, release))
    mounts = discover.read_mounts()
    layout = mounts.layout
    add(Check("cgroup layout", layout == "v2", f"{layout} (v2 at {mounts.v2})",
              None if layout == "v2" else "memory is bound to cgroup v1 here; boot with "
              "systemd.unified_cgroup_hierarchy=1, or use --backend uml"))
    from harness.backends.uml import UML_INSTALL, find_kernel  # light: no guest is booted

    if in_guest():
        add(Check("user-mode Linux", None, "this is a guest: trials run natively here"))
    else:
        kernel = find_kernel()
        d.uml_available = kernel is not None
        add(Check("user-mode Linux", d.uml_available, str(kernel) if kernel else "not installed",
                  None if kernel else UML_INSTALL))
    from harness.environments.checks import container_checks

    for name, value, fix in container_checks():
        add(Check(name, None, value, fix))
    if mounts.v2 is None:
        add(Check("cgroup v2 mount", False, "none", "use --backend uml"))
        return d
    try:
        loc = locate(cgroup_root, mounts)
    except CgroupError as e:
        add(Check("work place", False, e.message, e.fix))
        return d
    add(Check("work place", True, f"{loc.base} ({loc.mode})"))
    # Controllers the base can hand to its children: what its parent delegated to it.
    source = loc.base if loc.base.exists() and loc.mode == "delegated" else loc.base.parent
    if loc.base == loc.mount:
        source = loc.mount
    available = discover.controllers(source)
    missing = [c for c in CONTROLLERS if c not in available]
    add(Check("controllers", not missing, " ".join(sorted(available)) or "none",
              None if not missing else (
                  f"{' '.join(missing)} not available in {source}: "
                  + ("on a hybrid host they are bound to v1; use --backend uml"
                     if layout == "hybrid" else
                     "delegate them (systemd: Delegate=yes; user@.service gives memory pids, "
                     "cpu since systemd 252)" + _SLURM_HINT * bool(os.environ.get("SLURM_JOB_ID"))))))
    writable = os.access(source, os.W_OK)
    add(Check("may write", writable, str(source),
              None if writable else
              "run as root or in a delegated scope (systemd-run --scope -p Delegate=yes)"))
    probe = _probe_cgroup(loc.base, loc.mount)
    for name, (major, minor), consequence in (
            ("memory.peak", (5, 19), "peak memory will be missing from records (kernel < 5.19)"),
            ("cgroup.kill", (5, 14), "trials end by freeze-and-signal instead (kernel < 5.14)"),
            ("memory.events.local", (5, 2), "an ancestor's OOM kill cannot be told from the host's")):
        present, how = _has_file(probe, name, release, major, minor)
        add(Check(name, present, how,
                  None if present else f"{consequence}: use kernel {major}.{minor}+, or --backend uml"))
    psi = (probe / "cpu.pressure").exists() if probe else Path("/proc/pressure/memory").exists()
    add(Check("PSI (pressure)", None, "available" if psi else "not built in (records carry no pressure)"))
    swap = _swap_bytes()
    add(Check("swap", None, f"{swap} bytes" + (" (trials get memory.swap.max 0)" if swap else "")))
    if loc.mode == "delegated":
        low = (loc.base / "memory.low").read_text().strip() if (loc.base / "memory.low").exists() else "?"
        add(Check("protection above the subtree", None, f"memory.low of {loc.base} = {low}",
                  "trial guarantees are only effective up to it: systemd-run -p MemoryLow=... "
                  "sets it" if low == "0" else None))
    if loc.base.exists():
        from harness.cgroup.limit_above import limit_above

        above = limit_above(loc.base, loc.mount)
        add(Check("memory limit above", None, f"memory.max {above[0] >> 20} MiB at {above[1]}" if above
                  else "none (trials are bounded by the machine's memory)"))
    d.native_ready = bool(not missing and writable and layout != "v1")
    return d


# Seen with Slurm 22.05's cgroup/v2 plugin (scripts/slurm_cgroup_v2_probe.sh): a job's
# cgroup got cpu and memory (cpuset where the kernel has it), not pids.
_SLURM_HINT = ("; in a Slurm job with CgroupPlugin=cgroup/v2, Slurm (22.05) hands the job only "
               "the controllers it constrains (cpu, memory), not pids: run the job's trials with "
               "--backend uml, or start the harness outside Slurm's cgroups")


def _probe_cgroup(base: Path, mount: Path) -> Path | None:
    """A non-root cgroup with the memory controller, whose files show what the kernel offers
    (the root cgroup lacks most of them)."""
    candidates = [base, *(p for p in mount.iterdir() if p.is_dir())] if mount.is_dir() else [base]
    for p in candidates:
        if p != mount and (p / "memory.max").exists():
            return p
    return None


def _has_file(probe: Path | None, name: str, release: str, major: int, minor: int) -> tuple[bool, str]:
    if probe is not None:
        return (probe / name).exists(), f"{'present' if (probe / name).exists() else 'absent'} in {probe}"
    ok = _kernel_at_least(release, major, minor)
    return ok, f"kernel {major}.{minor}+ ({'yes' if ok else 'no'}; no cgroup to look in)"


def _swap_bytes() -> int:
    try:
        import psutil

        return int(psutil.swap_memory().total)
    except Exception:
        return 0

