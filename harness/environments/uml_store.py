"""A podman store for user-mode Linux guests, built once per machine, shared copy-on-write.

Importing a base image into a guest's tmpfs store costs 47-84 s at every boot. Instead,
one ext4 disk image holds a store with the base image imported; each guest gets it as
``ubd0`` behind a copy-on-write file of its own (UML's ``ubd0=COW,BACKING``), so guests
start with the image present and never change the shared file. The base image is a
Debian root filesystem made offline from the Debian mirror (``mmdebstrap``), the only
source these machines reach; a lab with its own images can ``podman load`` them into a
store the same way (see README).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from harness.environments.uml_podman import ROOT, RUNROOT, STORE, guest_args
from harness.errors import HarnessError

CACHE_ENV = "HARNESS_PODMAN_CACHE"
BASE_IMAGE = "localhost/harness-base:bookworm"
SUITE = "bookworm"
PACKAGES = "python3,ca-certificates,procps"
STORE_SIZE = "4G"  # sparse: costs what is written
MKFS = "mkfs.ext4"
MMDEBSTRAP_FIX = "bash scripts/setup.sh --podman (installs mmdebstrap; needs a Debian mirror)"


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or "/var/tmp/harness-podman")


@contextlib.contextmanager
def locked(name: str) -> Iterator[None]:
    """One builder per machine at a time (parallel test sessions share the cache)."""
    d = cache_dir()
    d.mkdir(parents=True, exist_ok=True)
    fd = os.open(d / f".{name}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _rootfs_path() -> Path:
    return cache_dir() / f"rootfs-{SUITE}.tar"


def base_rootfs() -> Path:
    """``rootfs-bookworm.tar``: Debian minbase with python3, built once (about a minute)."""
    out = _rootfs_path()
    with locked("rootfs"):
        if out.exists():
            return out
        if shutil.which("mmdebstrap") is None:
            raise HarnessError("mmdebstrap is not installed (it makes the base image offline)",
                               MMDEBSTRAP_FIX)
        part = out.with_name(f"part-{os.getpid()}-{out.name}")  # mmdebstrap wants a .tar name
        proc = subprocess.run(["mmdebstrap", "--quiet", "--variant=minbase", f"--include={PACKAGES}", SUITE,
                               str(part)], capture_output=True, timeout=900)
        if proc.returncode != 0:
            part.unlink(missing_ok=True)
            raise HarnessError(f"mmdebstrap failed: {proc.stderr.decode(errors='replace')[-500:]}",
                               MMDEBSTRAP_FIX)
        part.rename(out)
    return out


def _store_path(rootfs: Path) -> Path:
    st = rootfs.stat()
    key = hashlib.sha256(f"{rootfs}:{st.st_size}:{st.st_mtime_ns}:{ROOT}:{RUNROOT}".encode()).hexdigest()[:12]
    return cache_dir() / f"store-{key}.img"


def existing_base_store() -> Path | None:
    """The store :func:`base_store` would return, if it is built already (never builds)."""
    rootfs = _rootfs_path()
    if not rootfs.exists():
        return None
    out = _store_path(rootfs)
    return out if out.exists() else None


def base_store(rootfs: Path | None = None) -> Path:
    """An ext4 image whose podman store holds :data:`BASE_IMAGE`; built once per rootfs."""
    rootfs = rootfs or base_rootfs()
    out = _store_path(rootfs)
    with locked("store"):
        if out.exists():
            return out
        part = new_disk(out)
        try:
            fill_in_guest(part, ["import", str(rootfs), BASE_IMAGE])
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        part.rename(out)
    return out


def new_disk(final: Path) -> Path:
    """An empty sparse ext4 image beside ``final``, to fill and then rename into place."""
    if shutil.which(MKFS) is None:
        raise HarnessError(f"{MKFS} is not installed", "apt-get install -y e2fsprogs")
    part = final.with_suffix(f".part-{os.getpid()}")
    part.unlink(missing_ok=True)
    subprocess.run(["truncate", "-s", STORE_SIZE, str(part)], check=True)
    subprocess.run([MKFS, "-q", "-F", "-O", "^has_journal", str(part)], check=True, capture_output=True)
    return part


def fill_in_guest(disk: Path, podman_args: list[str]) -> None:
    """Boot a guest with ``disk`` as its store and run ``podman ARGS`` there (import, load)."""
    from harness.backends.uml import UmlGuest

    pkg_root = str(Path(__file__).resolve().parents[2])
    with UmlGuest(mem="1G", disks=[disk]) as guest:
        prep = guest.run([os.path.realpath(sys.executable), "-m", "harness.environments.uml_podman"],
                         cwd=pkg_root, timeout=120)
        if prep.returncode != 0 or prep.stdout.decode().strip() != "disk":
            raise HarnessError(f"podman set-up in the guest failed: {prep.stderr.decode()[-500:]}",
                               "bash scripts/setup.sh --podman")
        r = guest.run([*podman_argv(), *podman_args], timeout=1800)
        if r.returncode != 0:
            raise HarnessError(f"podman {podman_args[0]} in the guest failed: {r.stderr.decode()[-500:]}",
                               "see podman's message")
        guest.run(["/bin/sh", "-c", f"sync; umount {STORE}"], timeout=120)


def podman_argv() -> list[str]:
    """podman with the options a guest needs (what Podman.find gives inside one)."""
    return ["podman", "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--runtime", "crun",
            *guest_args()]


def cow_disk(store: Path, directory: Path) -> str:
    """The ``ubd`` argument for a guest: a fresh copy-on-write file over ``store``."""
    cow = directory / f"cow-{os.getpid()}-{time.monotonic_ns()}"
    return f"{cow},{store}"


if __name__ == "__main__":
    made = base_store()
    print(f"base image {BASE_IMAGE} in the UML podman store {made}")
