"""What a workload may have done to the trial it is measured in.

A root workload can write its own ``memory.max`` or move itself out of its cgroup. The
kernel does not stop it; so the limits are read back again when the trial ends, and every
process of the trial's session that is no longer in the trial's cgroup is found, killed
and counted. Either makes the trial an infrastructure error of its own
(``limits_tampered``, ``escaped``): it did not run under the limits on record.
(``--agent-user`` prevents both: an unprivileged process may write no cgroup file.)
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def changed_limits(before: dict[str, str], after: dict[str, str]) -> dict[str, list[str | None]]:
    """file → [value at start, value at end] for every limit that differs."""
    return {name: [before.get(name), after.get(name)]
            for name in sorted(set(before) | set(after)) if before.get(name) != after.get(name)}


def _session_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may hold spaces and parentheses: the fields after the last ")" are fixed.
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[3])  # state ppid pgrp session


def cgroup_of(pid: int) -> str | None:
    try:
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return line[3:]
    except OSError:
        return None
    return None


def _has_env(pid: int, marker: bytes) -> bool:
    try:
        return marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


def kill_escapees(session: int, cgroup_rel: str, env_marker: str | None = None) -> int:
    """SIGKILL the processes of the trial outside ``cgroup_rel`` (as /proc/PID/cgroup names
    it): those of its ``session``, and (to catch one that also called setsid) those whose
    environment holds ``env_marker`` (``NAME=value``, unique to the trial). Returns how many."""
    inside = cgroup_rel.rstrip("/")
    marker = env_marker.encode() if env_marker else None
    found = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        if pid == os.getpid():
            continue
        if _session_of(pid) != session and (marker is None or not _has_env(pid, marker)):
            continue
        where = cgroup_of(pid)
        if where is None or where == inside or where.startswith(inside + "/"):
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            found += 1
    return found
