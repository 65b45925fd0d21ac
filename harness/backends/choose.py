"""Choosing where trials run: natively, or inside a user-mode Linux guest."""

from __future__ import annotations

from pathlib import Path

from harness.backends.protocol import in_guest
from harness.errors import CgroupError

BACKENDS = ("auto", "native", "uml")


def resolve_backend(requested: str, cgroup_root: Path | None = None) -> str:
    """``native`` or ``uml`` for ``auto|native|uml``; a clear error when neither works."""
    if requested not in BACKENDS:
        raise CgroupError(f"unknown backend {requested!r}", f"use one of {', '.join(BACKENDS)}")
    if in_guest():
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
