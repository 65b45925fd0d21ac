"""The host/guest protocol's names: the environment a harness inside a user-mode Linux guest
gets from the host side, read through these functions on both sides."""

from __future__ import annotations

import os
from collections.abc import Mapping

# Set by the guest agent: trials run natively inside the guest are recorded with the
# backend the user chose outside it.
BACKEND_LABEL_ENV = "HARNESS_BACKEND_LABEL"
# Set by the host side: the guest's own hostname is "(none)"; records name the host.
HOST_LABEL_ENV = "HARNESS_HOST_LABEL"
IN_GUEST_ENV = "HARNESS_IN_UML"  # set by the guest agent: UML cannot boot inside UML
GUEST_BACKEND_LABEL = "uml"


def backend_label() -> str:
    """The backend to record: ``uml`` inside a guest the harness booted, else ``native``."""
    return os.environ.get(BACKEND_LABEL_ENV, "native")


def host_label() -> str:
    """The machine's name to record (inside a guest: the host's)."""
    import socket  # lazily: the guest agent imports this module and starts fast

    return os.environ.get(HOST_LABEL_ENV) or socket.gethostname()


def in_guest() -> bool:
    return bool(os.environ.get(IN_GUEST_ENV))


def guest_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a harness inside a guest, on the host side."""
    env = dict(os.environ if base is None else base)
    env[HOST_LABEL_ENV] = host_label()
    return env


def guest_agent_environment(env: dict[str, str]) -> dict[str, str]:
    """What the guest agent adds to every command it runs."""
    return {**env, IN_GUEST_ENV: "1", BACKEND_LABEL_ENV: GUEST_BACKEND_LABEL}
