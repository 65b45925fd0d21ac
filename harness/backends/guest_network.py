"""A network path from a user-mode Linux guest to the host, off by default.

A real agent calls a model API, so its guest needs a way out. ``slirp`` (Debian's
``slirp`` package) gives the guest an interface without root or host set-up: the guest is
10.0.2.15, the host's loopback is 10.0.2.2 (a server on the host's 127.0.0.1:PORT is
10.0.2.2:PORT inside) and slirp's DNS relay 10.0.2.3; connections out are made by the
slirp process, as the harness's user. ``none`` (the default) gives the guest loopback
only. Chosen with ``HARNESS_UML_NETWORK``; each manifest records the interfaces the trials
saw (``host.network_interfaces``).
"""

from __future__ import annotations

import os
import shutil

from harness.errors import UsageError

NETWORK_ENV = "HARNESS_UML_NETWORK"
NETWORKS = ("none", "slirp")
# slirp throttles to modem speeds unless built with FULL_BOLT; Debian ships both.
SLIRP_BINARIES = ("slirp-fullbolt", "slirp")
HOST_FROM_GUEST = "10.0.2.2"
_SLIRP_INIT = ("ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && "
               f"ip route add default via {HOST_FROM_GUEST}\n")


def resolve(network: str | None) -> str:
    """``network``, else ``$HARNESS_UML_NETWORK``, else ``none``; refused when unknown."""
    chosen = network if network is not None else os.environ.get(NETWORK_ENV) or "none"
    if chosen not in NETWORKS:
        raise UsageError(f"guest network {chosen!r} (from {NETWORK_ENV} or the caller) is not known",
                         f"use one of {', '.join(NETWORKS)}")
    return chosen


def kernel_args(network: str) -> list[str]:
    """linux.uml arguments for ``network``."""
    return [f"eth0=slirp,,{_slirp()}"] if network == "slirp" else []


def init_lines(network: str) -> str:
    """Shell lines for the guest's init that bring the interface up."""
    return _SLIRP_INIT if network == "slirp" else ""


def _slirp() -> str:
    for name in SLIRP_BINARIES:
        found = shutil.which(name) or next((p for p in (f"/usr/bin/{name}",) if os.access(p, os.X_OK)), None)
        if found:
            return found
    raise UsageError(f"{NETWORK_ENV}=slirp but slirp is not installed",
                     f"apt-get install slirp, or unset {NETWORK_ENV}")
