"""The real-kernel test bed.

``kernel`` runs commands on a real cgroup-v2 kernel: natively where `harness doctor`
passes, else in one user-mode Linux guest booted for the whole session. Where neither
exists the tests that need it skip locally and FAIL under CI=true: the kernel is the
product, and a green run without it would prove nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Outside /tmp: the UML guest mounts its own tmpfs there and cannot see the host's.
SHARED_TMP = Path(os.environ.get("HARNESS_TEST_TMP", "/var/tmp/harness-tests"))
REPO = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        try:
            return json.loads(self.stdout)
        except json.JSONDecodeError:
            raise AssertionError(f"stdout is not JSON: {self.stdout!r}\nstderr: {self.stderr}") from None


class Kernel:
    """Runs argv on the real kernel; ``backend`` says where."""

    backend = "?"
    python = sys.executable

    def run(self, argv: list[str], cwd: str | None = None, env: dict[str, str] | None = None,
            timeout: float | None = 300) -> Result:
        raise NotImplementedError

    def harness(self, *args: str, cwd: str | None = None, env: dict[str, str] | None = None,
                timeout: float | None = 300) -> Result:
        return self.run([sys.executable, "-m", "harness", *args], cwd=cwd, env=env, timeout=timeout)

    def sh(self, script: str, **kw: Any) -> Result:
        return self.run(["/bin/sh", "-c", script], **kw)


class NativeKernel(Kernel):
    backend = "native"

    def run(self, argv, cwd=None, env=None, timeout=300):  # type: ignore[no-untyped-def]
        p = subprocess.run(argv, cwd=cwd or str(REPO), env={**os.environ, **(env or {})},
                           capture_output=True, timeout=timeout)
        return Result(p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))


class UmlKernel(Kernel):
    backend = "uml"

    def __init__(self, guest: Any) -> None:
        self.guest = guest

    def run(self, argv, cwd=None, env=None, timeout=300):  # type: ignore[no-untyped-def]
        r = self.guest.run(argv, cwd=cwd or str(REPO), env=env, timeout=timeout)
        if r.timed_out:
            raise AssertionError(f"{argv} timed out in the guest after {timeout} s")
        return Result(r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace"))


def no_kernel(reason: str) -> None:
    message = (f"no real cgroup-v2 kernel: {reason}. Install user-mode Linux "
               "(apt-get update && apt-get install -y user-mode-linux) or run on a pure-v2 host.")
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def kernel() -> Iterator[Kernel]:
    from harness.doctor import diagnose

    d = diagnose()
    if d.native_ready:
        yield NativeKernel()
        return
    if not d.uml_available:
        no_kernel("this host has no usable cgroup v2 and linux.uml is not installed")
    from harness.backends.uml import UmlGuest

    with UmlGuest(mem="1G") as guest:
        yield UmlKernel(guest)


@pytest.fixture
def shared_tmp(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A fresh directory the kernel (native or guest) can see; removed afterwards."""
    path = SHARED_TMP / f"{request.node.name[:60]}-{uuid.uuid4().hex[:6]}"
    path.mkdir(parents=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if {"kernel", "uml_kernel"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.kernel)


@pytest.fixture(scope="session")
def uml_kernel() -> Path:
    """The user-mode Linux kernel, for tests of the host side of --backend uml."""
    from harness.backends.uml import find_kernel

    found = find_kernel()
    if found is None:
        no_kernel("linux.uml is not installed")
    assert found is not None
    return found
