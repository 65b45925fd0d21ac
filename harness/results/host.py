"""What a reproducibility check needs to know about the machine (cf. pyperf's metadata)."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

from harness import __version__
from harness.backends.protocol import host_label
from harness.cgroup import discover
from harness.schema.manifest import HostInfo


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def host_metadata(backend: str) -> HostInfo:
    """The host as the trials see it (inside a UML guest: the guest)."""
    import psutil

    mounts = discover.read_mounts()
    freq = None
    try:
        f = psutil.cpu_freq()
        freq = round(f.max or f.current) if f else None
    except (OSError, NotImplementedError, AttributeError):
        pass
    return HostInfo(
        hostname=host_label(), kernel=platform.release(), os=platform.platform(),
        machine=platform.machine(), cpu_model=cpu_model(), cpu_mhz_max=freq, cores=os.cpu_count(),
        memory_bytes=psutil.virtual_memory().total, swap_bytes=psutil.swap_memory().total,
        cgroup_layout=mounts.layout, cgroup_mount=str(mounts.v2) if mounts.v2 else None,
        backend=backend, python_version=sys.version.split()[0], harness_version=__version__,
        # A guest's way out, if any (UML: "eth0" with HARNESS_UML_NETWORK=slirp).
        network_interfaces=tuple(sorted(n for n in psutil.net_if_addrs() if n != "lo")),
        harness_path=str(Path(__file__).resolve().parents[1]),  # which install ran
    )
