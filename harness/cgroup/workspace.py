"""The subtree the harness works in, and the trial cgroups it makes there.

Layout (every name below ``base`` is the harness's own)::

    base/                  a delegated scope, <mount>/harness (root, no systemd), or --cgroup-root
      <session>/           one per harness process; memory.low = max (see below)
        supervisor/        this process ("no internal processes": it cannot stay in <session>),
                           and its spawn server (cgroup/spawn_server.py)
        <trial>/           memory.low|min, memory.max, cpu.max, pids.max, ...
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness.cgroup import discover
from harness.cgroup.group import Cgroup
from harness.errors import CgroupError

if TYPE_CHECKING:
    from harness.cgroup.spawner import Spawner

CONTROLLERS: tuple[str, ...] = ("memory", "cpu", "pids")
ROOT_BASE_NAME = "harness"
SUPERVISOR = "supervisor"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(text: str, limit: int = 80) -> str:
    """A cgroup directory name made from user input: nothing can escape the subtree."""
    name = _UNSAFE.sub("_", text).strip("._") or "x"
    return name[:limit]


@dataclass(frozen=True)
class Location:
    base: Path
    mode: str  # "delegated" | "root" | "explicit"
    mount: Path


def locate(cgroup_root: Path | None = None, mounts: discover.Mounts | None = None) -> Location:
    """Decide where the harness may work, or say why it may not and what fixes it."""
    mounts = mounts or discover.read_mounts()
    if mounts.v2 is None:
        raise CgroupError("no cgroup v2 hierarchy is mounted on this host",
                          "boot with systemd.unified_cgroup_hierarchy=1, or use --backend uml")
    mount = mounts.v2
    if cgroup_root is not None:
        root = Path(os.path.realpath(cgroup_root))
        if root != mount and mount not in root.parents:
            raise CgroupError(f"--cgroup-root {cgroup_root} is not inside the cgroup-v2 mount {mount}",
                              f"give a path below {mount}")
        return Location(root, "explicit", mount)
    own = discover.own_cgroup_path(mount)
    if own is not None and own != mount and discover.is_delegated(own):
        return Location(own, "delegated", mount)
    if os.geteuid() == 0 and not discover.systemd_running():
        return Location(mount / ROOT_BASE_NAME, "root", mount)
    if os.geteuid() == 0:
        fix = ("systemd owns the cgroup tree here; run in a delegated scope: "
               "systemd-run --scope -p Delegate=yes -- harness ..., or name a subtree that "
               "systemd leaves alone with --cgroup-root")
    else:
        fix = "run in a delegated scope: systemd-run --user --scope -p Delegate=yes -- harness ..."
    raise CgroupError(f"this process's cgroup {own} is not delegated to it", fix)


@dataclass
class Workspace:
    """A claimed session cgroup with this process in its supervisor leaf."""

    location: Location
    session: Cgroup
    supervisor: Cgroup
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _spawner: Spawner | None = None
    _spawner_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(cls, session_hint: str, cgroup_root: Path | None = None) -> Workspace:
        loc = locate(cgroup_root)
        base = Cgroup(loc.base)
        owns_base = loc.mode == "root"  # <mount>/harness is ours by name
        if loc.mode in ("root", "explicit"):
            parent = Cgroup(loc.base.parent) if loc.base != loc.mount else None
            if parent is not None and not loc.base.exists():
                parent.enable_controllers(CONTROLLERS)
                base.create()
                owns_base = True
        elif loc.mode == "delegated":
            _move_strangers_to_leaf(base)
        reap_stale_sessions(base)
        session = base.child(f"{safe_name(session_hint, 60)}-{os.getpid()}-{os.urandom(2).hex()}")
        session.create()
        supervisor = session.child(SUPERVISOR)
        supervisor.create()
        supervisor.add_process(os.getpid())
        base.enable_controllers(CONTROLLERS)
        session.enable_controllers(CONTROLLERS)
        _check_controllers(session)
        # memory.low protects a trial only as far as every ancestor is protected too
        # (effective low is capped by the parent's). "max" on the cgroups we own passes
        # each trial's own guarantee through; above them, the host's settings decide.
        session.write("memory.low", "max")
        if owns_base:
            base.write("memory.low", "max")
        return cls(loc, session, supervisor)

    def new_trial(self, hint: str) -> Cgroup:
        """Create a uniquely named, empty trial cgroup."""
        name = f"{safe_name(hint)}-{next(self._counter)}-{os.urandom(3).hex()}"
        cg = self.session.child(name)
        if cg.path.parent != self.session.path:
            raise CgroupError(f"trial name {hint!r} escapes the session", "use a plain name")
        cg.create()
        return cg

    def start_spawner(self) -> Spawner:
        """Start the spawn server that starts trials inside their cgroups: for callers that
        run many trials, before they start threads (it is forked then, not executed).
        Forking costs the harness copy-on-write faults on its own memory afterwards (some
        300 ms in a user-mode Linux guest, milliseconds natively): more than the one exec
        of ``sh`` a trial without it pays, so a single trial does without."""
        with self._spawner_lock:
            return self._restart_spawner()

    def spawner(self) -> Spawner | None:
        """The spawn server, started again if it died; None if none was started."""
        with self._spawner_lock:  # one restart however many trials find it dead at once
            if self._spawner is not None and self._spawner.dead is not None:
                return self._restart_spawner()
            return self._spawner

    def _restart_spawner(self) -> Spawner:
        from harness.cgroup.spawner import Spawner

        if self._spawner is not None:
            self._spawner.close()
        self._spawner = Spawner.start(self.supervisor)
        return self._spawner

    def trials(self) -> list[Cgroup]:
        """The session's trial cgroups (every child but the supervisor leaf)."""
        return [c for c in self.session.children() if c.path.name != SUPERVISOR]

    def kill_trials(self) -> None:
        """Kill every running trial (Ctrl-C): their runners then measure and remove them.
        A trial that ends meanwhile may vanish under us (ENOENT/ENODEV): nothing to kill."""
        for child in self.trials():
            with contextlib.suppress(CgroupError, OSError):
                child.kill()

    def close(self) -> None:
        """Kill and remove what is left, then leave (where the kernel lets us)."""
        for child in self.trials():
            child.kill()
            child.remove()
        with self._spawner_lock:
            if self._spawner is not None:
                self._spawner.close()
                self._spawner = None
        # A process can only leave for a cgroup that may hold processes: the root, or
        # one without controllers for children. In a delegated scope the session stays
        # until this process exits; the next harness (or systemd) removes it.
        if self.location.mode == "root":
            try:
                Cgroup(self.location.mount).add_process(os.getpid())
                self.supervisor.remove()
                self.session.remove()
            except CgroupError:
                pass

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _move_strangers_to_leaf(base: Cgroup) -> None:
    """A delegated scope may hold our shell too; move its processes to a leaf of their own."""
    pids = base.pids()
    if not pids:
        return
    leaf = base.child("leaf")
    if not leaf.path.exists():
        leaf.create()
    for pid in pids:
        try:
            leaf.add_process(pid)
        except CgroupError:
            if Path(f"/proc/{pid}").exists():
                raise


def _check_controllers(session: Cgroup) -> None:
    have = set(session.read("cgroup.subtree_control").split())
    missing = [c for c in CONTROLLERS if c not in have]
    if missing:
        raise CgroupError(f"controllers {' '.join(missing)} are not available in {session.path}",
                          "they must be delegated to the harness's subtree; `harness doctor` says how")


def session_alive(session: Cgroup) -> bool:
    return bool(session.child(SUPERVISOR).pids()) if session.child(SUPERVISOR).path.exists() else False


def reap_stale_sessions(base: Cgroup, prefix: str = "") -> int:
    """Kill and remove sessions whose harness process is gone; returns how many.

    Without a prefix only empty sessions are removed; with one (a sweep's id, on
    resume) trial processes a killed harness left behind are killed first.
    """
    removed = 0
    for session in base.children():
        name = session.path.name
        if name == "leaf" or not name.startswith(prefix) or session_alive(session):
            continue
        if not prefix and session.populated():
            continue
        try:
            session.kill()
            session.remove()
            removed += 1
        except CgroupError:
            continue
    return removed
