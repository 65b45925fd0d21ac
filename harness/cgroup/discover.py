"""Where cgroup v2 is on this host and which cgroup this process is in.

The parsers take text so that they can be tested on recorded files from other hosts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")
PROC_CGROUP = Path("/proc/self/cgroup")


@dataclass(frozen=True)
class Mounts:
    v2: Path | None  # the cgroup2 mount point
    v1_controllers: frozenset[str]  # controllers bound to cgroup v1 hierarchies

    @property
    def layout(self) -> str:
        """``v2`` (unified), ``hybrid`` (v2 and v1 mounted), ``v1`` or ``none``."""
        if self.v2 is not None:
            return "hybrid" if self.v1_controllers else "v2"
        return "v1" if self.v1_controllers else "none"


def parse_mountinfo(text: str) -> Mounts:
    v2: Path | None = None
    v1: set[str] = set()
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields = left.split()
        fstype, _source, *opts = right.split()
        mount_point = Path(fields[4].replace("\\040", " "))
        if fstype == "cgroup2":
            # Prefer the canonical mount if there are several (containers bind more).
            if v2 is None or mount_point == Path("/sys/fs/cgroup"):
                v2 = mount_point
        elif fstype == "cgroup" and opts:
            for opt in opts[0].split(","):
                if opt in ("cpu", "cpuacct", "cpuset", "memory", "pids", "io", "blkio",
                           "devices", "freezer", "hugetlb", "perf_event", "net_cls", "rdma"):
                    v1.add(opt)
    return Mounts(v2, frozenset(v1))


def parse_proc_cgroup(text: str) -> str | None:
    """The v2 path of this process (the ``0::`` line), e.g. ``/user.slice/x.scope``."""
    for line in text.splitlines():
        if line.startswith("0::"):
            return line[3:].strip() or "/"
    return None


def read_mounts() -> Mounts:
    return parse_mountinfo(MOUNTINFO.read_text())


def own_cgroup_path(mount: Path, proc_cgroup_text: str | None = None) -> Path | None:
    rel = parse_proc_cgroup(PROC_CGROUP.read_text() if proc_cgroup_text is None else proc_cgroup_text)
    if rel is None:
        return None
    # " (deleted)" marks a cgroup that was removed under us.
    rel = rel.removesuffix(" (deleted)")
    return mount / rel.lstrip("/")


def systemd_running() -> bool:
    """systemd is the cgroup tree's single writer when it runs (its CGROUP_DELEGATION.md)."""
    return Path("/run/systemd/system").is_dir()


def is_delegated(path: Path) -> bool:
    """May this process manage ``path``'s children (the files a delegation hands over)?

    systemd marks delegated cgroups with an xattr; where it does not (older systemd, or
    a cgroup delegated by chown), write access to the three delegation files decides.
    """
    for attr in ("trusted.delegate", "user.delegate"):
        try:
            if os.getxattr(path, attr) == b"1":
                return True
        except OSError:
            pass
    return all(os.access(path / f, os.W_OK)
               for f in ("cgroup.procs", "cgroup.subtree_control", "cgroup.threads"))


def controllers(path: Path) -> frozenset[str]:
    try:
        return frozenset((path / "cgroup.controllers").read_text().split())
    except OSError:
        return frozenset()
