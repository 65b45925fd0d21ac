"""How much memory user-mode Linux guests may promise: what this process is actually granted.

A guest's RAM is a promise its kernel makes to the trials (their budget is the guest's
memory), backed lazily by the host. Several guests, or guests inside a Slurm job, must
not promise together more than there is: the grant is the least of the host's memory,
the Slurm job's (``SLURM_MEM_PER_NODE``, else ``SLURM_MEM_PER_CPU`` × the job's CPUs on
this node) and a memory limit on our own cgroup; three quarters of it (the rest is the
host-side harness, the guest kernels and page cache) are split evenly among the guests.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UsageError

MEM_ENV = "HARNESS_UML_MEM"
SHARE = 3 / 4
MIN_GUEST = 256 << 20  # a guest that starts Python and a trial needs about this much


@dataclass(frozen=True)
class Grant:
    bytes: int
    source: str  # where the number came from, for messages and the manifest


def slurm_grant(env: Mapping[str, str]) -> Grant | None:
    """The Slurm job's memory on this node, from the variables Slurm sets (values in MiB)."""
    per_node = env.get("SLURM_MEM_PER_NODE")
    if per_node and per_node.isdigit() and int(per_node) > 0:
        return Grant(int(per_node) << 20, f"SLURM_MEM_PER_NODE={per_node}")
    per_cpu = env.get("SLURM_MEM_PER_CPU")
    if per_cpu and per_cpu.isdigit() and int(per_cpu) > 0:
        cpus_text = env.get("SLURM_CPUS_ON_NODE") or env.get("SLURM_CPUS_PER_TASK") or "1"
        cpus = int(cpus_text) if cpus_text.isdigit() and int(cpus_text) > 0 else 1
        return Grant((int(per_cpu) * cpus) << 20, f"SLURM_MEM_PER_CPU={per_cpu} × {cpus} CPU(s)")
    return None


def cgroup_grant(proc_self_cgroup: Path = Path("/proc/self/cgroup"),
                 root: Path = Path("/sys/fs/cgroup")) -> Grant | None:
    """A memory limit on our own cgroup (v2 ``memory.max`` or v1 ``memory.limit_in_bytes``)."""
    try:
        lines = proc_self_cgroup.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        hier, controllers, path = [*line.split(":", 2), "", ""][:3]
        rel = path.lstrip("/")
        if hier == "0" and controllers == "":
            candidates = [root / rel / "memory.max", root / "unified" / rel / "memory.max"]
        elif "memory" in controllers.split(","):
            candidates = [root / "memory" / rel / "memory.limit_in_bytes"]
        else:
            continue
        for f in candidates:
            try:
                text = f.read_text().strip()
            except OSError:
                continue
            # v1 says "no limit" with a huge number; v2 with "max".
            if text.isdigit() and int(text) < 1 << 60:
                return Grant(int(text), f"the memory limit of our cgroup ({f})")
    return None


def grant(env: Mapping[str, str] | None = None) -> Grant:
    import psutil

    env = os.environ if env is None else env
    found = [Grant(psutil.virtual_memory().total, "the host's memory")]
    found += [g for g in (slurm_grant(env), cgroup_grant()) if g is not None]
    return min(found, key=lambda g: g.bytes)


def guest_mem(guests: int = 1, env: Mapping[str, str] | None = None) -> str:
    """RAM for each of ``guests`` guests (UML syntax, e.g. ``768M``); ``$HARNESS_UML_MEM`` wins."""
    env = os.environ if env is None else env
    if env.get(MEM_ENV):
        return env[MEM_ENV]
    g = grant(env)
    each = int(g.bytes * SHARE) // max(1, guests)
    if each < MIN_GUEST:
        raise UsageError(f"{guests} guest(s) in {g.bytes >> 20} MiB ({g.source}) would get {each >> 20} MiB "
                         f"each, less than the {MIN_GUEST >> 20} MiB a guest needs",
                         "ask for more memory (Slurm: --mem), run fewer at once, or set HARNESS_UML_MEM")
    return f"{each >> 20}M"
