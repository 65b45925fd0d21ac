"""Choosing where trials run: natively, or inside a user-mode Linux guest."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from harness.errors import CgroupError

BACKENDS = ("auto", "native", "uml")
# Set by the UML guest agent, so that trials run natively inside the guest are recorded
# with the backend the user chose outside it.
LABEL_ENV = "HARNESS_BACKEND_LABEL"
IN_GUEST_ENV = "HARNESS_IN_UML"  # set by the guest agent


def resolve_backend(requested: str, cgroup_root: Path | None = None) -> str:
    """``native`` or ``uml`` for ``auto|native|uml``; a clear error when neither works."""
    if requested not in BACKENDS:
        raise CgroupError(f"unknown backend {requested!r}", f"use one of {', '.join(BACKENDS)}")
    if os.environ.get(IN_GUEST_ENV):
        # UML cannot boot inside UML: a guest's harness always works natively.
        if requested == "uml":
            raise CgroupError("cannot boot a user-mode Linux guest inside one", "use --backend native here")
        return "native"
    if requested != "auto":
        return requested
    from harness.backends.uml import UML_INSTALL
    from harness.doctor import diagnose

    d = diagnose(cgroup_root)
    if d.auto_backend is None:
        reasons = "; ".join(f"{c.name}: {c.value}" for c in d.checks if c.ok is False)
        raise CgroupError(f"no usable cgroup v2 here ({reasons}) and no user-mode Linux kernel",
                          f"install one: {UML_INSTALL}")
    return d.auto_backend


def backend_label() -> str:
    return os.environ.get(LABEL_ENV, "native")


def relay_argv(argv: list[str]) -> list[str]:
    """The same harness command line with ``--backend native``, to run inside the guest."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            out.extend(argv[i:])
            break
        if arg == "--backend":
            i += 2
            continue
        if not arg.startswith("--backend="):
            out.append(arg)
        i += 1
    # The option goes right after the subcommand name.
    return [out[0], "--backend", "native", *out[1:]] if out else out


def guest_environment() -> dict[str, str]:
    """Our environment for a harness inside a guest, which records this host's name
    (the guest's own hostname is "(none)")."""
    return {**os.environ, "HARNESS_HOST_LABEL": os.environ.get("HARNESS_HOST_LABEL") or socket.gethostname()}


def run_in_uml(argv: list[str], disks: list[str] | None = None) -> int:
    """Run ``harness ARGV`` (with --backend native) in a fresh UML guest; its exit status."""
    from harness.backends.uml import default_guest_mem
    from harness.backends.uml_relay import run_once

    command = [sys.executable, "-m", "harness", *relay_argv(argv)]
    return run_once(command, cwd=os.getcwd(), env=guest_environment(), mem=default_guest_mem(), disks=disks)
