"""The podman command line, every call bounded by a timeout.

An out-of-memory ``podman exec`` was once seen to hang for over ten minutes, so nothing
here waits without a bound. Calls run from a scratch directory: conmon writes a file
named ``oom`` into its working directory when a container is OOM-killed.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.backends.protocol import in_guest
from harness.cgroup.group import Cgroup
from harness.errors import HarnessError

ARGS_ENV = "HARNESS_PODMAN_ARGS"  # extra global options (the UML guest's storage), shell-quoted
NETWORK_ENV = "HARNESS_PODMAN_NETWORK"  # "none": no container gets a network (a UML guest has none)
INSTALL = "apt-get install -y podman crun  (then check: podman info)"
LABEL_SWEEP = "harness.sweep"
LABEL_TRIAL = "harness.trial"
LABEL_SESSION = "harness.session"
QUICK = 60.0  # seconds for calls that only touch podman's own state
REMOVE = 120.0


class PodmanError(HarnessError):
    """podman is missing, failed, or did not answer in time."""


@dataclass(frozen=True)
class Podman:
    """``podman`` with the global options every call needs.

    ``cgroupfs`` makes ``--cgroup-parent`` a path in the cgroup tree (the harness's trial
    cgroup) instead of a systemd slice; the ``file`` events backend needs no journald.
    """

    executable: str
    global_args: tuple[str, ...]
    scratch: Path
    network: str | None = None  # forced on every container; None: per task

    @classmethod
    def find(cls) -> Podman:
        exe = shutil.which("podman")
        if exe is None:
            raise PodmanError("--environment podman: podman is not installed", INSTALL)
        args = ["--cgroup-manager", "cgroupfs", "--events-backend", "file"]
        if shutil.which("crun"):
            args += ["--runtime", "crun"]
        network = os.environ.get(NETWORK_ENV) or None
        if in_guest():
            from harness.environments.uml_podman import guest_args, prepare_guest

            prepare_guest()
            args += guest_args()
            network = network or "none"
        args += shlex.split(os.environ.get(ARGS_ENV, ""))
        scratch = Path(tempfile.mkdtemp(prefix="harness-podman-"))
        return cls(exe, tuple(args), scratch, network)

    def argv(self, args: Sequence[str]) -> list[str]:
        return [self.executable, *self.global_args, *args]

    def run(self, args: Sequence[str], timeout: float = QUICK, check: bool = True,
            cgroup: Cgroup | None = None) -> subprocess.CompletedProcess[bytes]:
        """Run ``podman ARGS``; PodmanError on timeout or (with ``check``) failure.

        With ``cgroup``, podman (and what it leaves running: conmon) starts in that cgroup.
        """
        argv = self.argv(args)
        try:
            proc = self.popen(args, subprocess.PIPE, subprocess.PIPE, cgroup)
        except OSError as e:
            raise PodmanError(f"cannot run podman: {e.strerror}", INSTALL) from None
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise PodmanError(f"`podman {_short(args)}` did not end within {timeout:g} s",
                              "podman is hung; check `podman ps` and the machine's load") from None
        done = subprocess.CompletedProcess(argv, proc.returncode, out, err)
        if check and done.returncode != 0:
            raise PodmanError(f"`podman {_short(args)}` failed (status {done.returncode}): "
                              f"{_last_line(err)}", "see podman's message above")
        return done

    def popen(self, args: Sequence[str], stdout: Any, stderr: Any,
              cgroup: Cgroup | None = None) -> subprocess.Popen[bytes]:
        """Start ``podman ARGS``; the caller bounds it and waits. With ``cgroup``, it starts
        there (never in the harness's own leaf: a conmon or exec client left there by a
        killed sweep would make its session look alive)."""
        if cgroup is None:
            return subprocess.Popen(self.argv(args), stdin=subprocess.DEVNULL, stdout=stdout,
                                    stderr=stderr, cwd=self.scratch)
        from harness.runner.spawn import spawn_in_cgroup

        return spawn_in_cgroup(cgroup, self.argv(args), cwd=str(self.scratch), stdin=subprocess.DEVNULL,
                               stdout=stdout, stderr=stderr)

    def check(self) -> str:
        """podman's version, or PodmanError with the fix."""
        proc = self.run(["version", "--format", "{{.Client.Version}}"], check=False)
        if proc.returncode != 0:
            raise PodmanError(f"podman does not work here: {_last_line(proc.stderr)}",
                              "run `podman info` and fix what it reports")
        return proc.stdout.decode().strip()


def _short(args: Sequence[str]) -> str:
    text = " ".join(shlex.quote(a) for a in args)
    return text if len(text) < 120 else text[:117] + "..."


def _last_line(stderr: bytes) -> str:
    lines = [ln for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
    return lines[-1].strip() if lines else "(no message)"


def remove_scratch(podman: Podman) -> None:
    shutil.rmtree(podman.scratch, ignore_errors=True)
