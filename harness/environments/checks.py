"""What `harness doctor` says about container trials (information only: host trials need none)."""

from __future__ import annotations

import shutil

from harness.environments.podman_cli import INSTALL
from harness.environments.podman_trial import recursive_protection


def container_checks() -> list[tuple[str, str, str | None]]:
    """(name, value, fix) for podman and memory_recursiveprot."""
    podman = shutil.which("podman")
    out: list[tuple[str, str, str | None]] = [
        ("podman", f"{podman} (for --environment podman)" if podman else "not installed",
         None if podman else f"--environment podman needs it: {INSTALL}")]
    if recursive_protection():
        out.append(("memory_recursiveprot", "on: a trial's memory.low reaches its container's cgroup", None))
    else:
        out.append(("memory_recursiveprot", "off: the harness writes each container trial's guarantee "
                    "on the container's cgroup as well", None))
    return out
