"""Podman inside a user-mode Linux guest: what the guest must have before the first call.

Seen working (see the project's notes): a tmpfs on /dev/shm (podman's locks), the
``overlay`` module loaded from Debian's UML modules, storage on a filesystem overlay can
sit on (ext4 on a ubd disk, or a tmpfs; not hostfs), ``--cgroup-manager cgroupfs
--events-backend file --runtime crun``, and a tmpfs on /run (podman and crun keep their
state there, and the guest's /run is otherwise the host's, through hostfs). The guest's
only network interface is ``lo``, so containers get ``--network none``.

The storage paths are fixed: podman records them in its database, so a store prepared
once (``scripts/podman_store.sh``) is found again at the same place in every guest.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

from harness.errors import HarnessError

STORE = Path("/run/harness-podman")
ROOT = STORE / "storage"
RUNROOT = STORE / "run"
DISK = Path("/dev/ubda")  # a guest's first ubd disk: an ext4 store, when the host gives one
MODULES = Path("/usr/lib/uml/modules")


def guest_args() -> list[str]:
    return ["--root", str(ROOT), "--runroot", str(RUNROOT), "--storage-driver", "overlay"]


def _mounted(point: str, fstype: str | None = None) -> bool:
    for line in Path("/proc/self/mounts").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == point and (fstype is None or parts[2] == fstype):
            return True
    return False


def _sh(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, timeout=60)
    if proc.returncode != 0:
        raise HarnessError(f"guest set-up for podman: {' '.join(argv)} failed: "
                           f"{proc.stderr.decode(errors='replace').strip()}",
                           "see docs in harness/environments/uml_podman.py; is kmod installed "
                           "(apt-get install kmod) and /usr/lib/uml/modules present?")


def prepare_guest(disk: Path = DISK) -> str:
    """Idempotent. Returns where the store is: ``disk`` (kept) or ``tmpfs`` (lost at poweroff)."""
    if not _mounted("/run", "tmpfs"):
        _sh(["mount", "-t", "tmpfs", "tmpfs", "/run"])
    if not _mounted("/dev/shm", "tmpfs"):
        os.makedirs("/dev/shm", exist_ok=True)
        _sh(["mount", "-t", "tmpfs", "tmpfs", "/dev/shm"])
    if "overlay" not in Path("/proc/filesystems").read_text():
        module = MODULES / platform.release() / "kernel/fs/overlayfs/overlay.ko"
        _sh(["insmod", str(module)])
    if _mounted(str(STORE)):
        return "disk" if disk.exists() else "tmpfs"
    STORE.mkdir(parents=True, exist_ok=True)
    if disk.exists():
        _sh(["mount", "-t", "ext4", str(disk), str(STORE)])
        return "disk"
    _sh(["mount", "-t", "tmpfs", "tmpfs", str(STORE)])
    return "tmpfs"


if __name__ == "__main__":
    print(prepare_guest())
