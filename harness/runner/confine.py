"""Keeping a root workload away from the cgroup files it is measured by (``--protect-limits``).

The workload runs, already inside its trial cgroup, in a private mount namespace where
every cgroup filesystem is remounted read-only, and without the capabilities that would
undo that: CAP_SYS_ADMIN (remount, mount a fresh cgroupfs, setns), CAP_SYS_PTRACE
(reach the writable tree through /proc/PID/root), CAP_SYS_MODULE and CAP_SYS_RAWIO. It
stays root otherwise. This is what a container does for its cgroup view; it needs root,
``unshare`` and ``setpriv`` (util-linux). Tested in the UML guest
(tests/test_kernel_hostile.py).
"""

from __future__ import annotations

import os
import shutil

from harness.errors import UsageError

DROPPED_CAPS = ("sys_admin", "sys_ptrace", "sys_module", "sys_rawio")
# Every cgroup and cgroup2 mount, read-only in this namespace; any failure aborts (125).
_SCRIPT = (
    "for m in $(grep -E ' - cgroup2? ' /proc/self/mountinfo | cut -d' ' -f5); do "
    'mount -o remount,bind,ro "$m" || exit 125; done; exec "$0" "$@"'
)


def tools() -> tuple[str, str]:
    """(unshare, setpriv) paths; a UsageError when they or root are missing."""
    unshare, setpriv = shutil.which("unshare"), shutil.which("setpriv")
    if unshare is None or setpriv is None:
        raise UsageError("--protect-limits needs unshare and setpriv", "install util-linux")
    if os.geteuid() != 0:
        raise UsageError("--protect-limits needs root (a mount namespace per trial)",
                         "run as root, or use --agent-user instead")
    return unshare, setpriv


def wrap(command: list[str]) -> list[str]:
    """``command`` (its first word an absolute path) run confined as described above."""
    unshare, setpriv = tools()
    drop = ",".join(f"-{c}" for c in DROPPED_CAPS)
    return [unshare, "--mount", "--propagation", "private", "--", "/bin/sh", "-c", _SCRIPT,
            setpriv, f"--bounding-set={drop}", f"--inh-caps={drop}", "--", *command]
