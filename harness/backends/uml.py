"""The user-mode Linux backend: a real Linux kernel with pure cgroup v2, as a host process.

One :class:`UmlGuest` boots one guest and runs many commands in it (concurrently, from
several threads); ``uml_relay`` runs commands in fresh guests with their output relayed.
The guest sees the host's whole filesystem at the same paths (hostfs) and runs as root
with one CPU; its agent (``uml_guest.py``) talks to us through files in a scratch
directory, which must not be under /tmp (the guest mounts its own tmpfs there).

Leak guard (the only process-global state here): the process group of every running
guest is kept in ``_LIVE``; an ``atexit`` hook and ``UmlGuest.__del__`` kill what is left.
When this process dies without running them (SIGKILL), the guest agent sees its console
input reach EOF and powers the guest off by itself.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from harness.backends import guest_network
from harness.errors import HarnessError, UsageError

KERNEL_ENV = "HARNESS_UML_KERNEL"
SCRATCH_ENV = "HARNESS_UML_SCRATCH"
MEM_ENV = "HARNESS_UML_MEM"  # also read by guest_memory
UML_INSTALL = "apt-get update && apt-get install -y user-mode-linux"
BOOT_TIMEOUT = 60.0
# First host-side sleep between looks for a result file (it grows; see GuestCommand.wait).
_POLL = 0.002
_MEM_RE = re.compile(r"^[1-9][0-9]*[KMG]?$")

# Variables of the caller that name host-only things (sockets, per-login dirs, /tmp
# paths hidden by the guest's own tmpfs) and are dropped before a command enters a guest.
HOST_ONLY_ENV = frozenset({
    "DISPLAY", "WAYLAND_DISPLAY", "XAUTHORITY", "DBUS_SESSION_BUS_ADDRESS", "SSH_AUTH_SOCK",
    "SSH_AGENT_PID", "GPG_AGENT_INFO", "XDG_RUNTIME_DIR", "XDG_SESSION_ID", "TMPDIR", "TMP",
    "TEMP", "PWD", "OLDPWD", "SHLVL", "_", "INVOCATION_ID", "JOURNAL_STREAM", "NOTIFY_SOCKET",
})


class UmlError(HarnessError):
    """The UML kernel is missing, a guest did not boot, or it died under us."""


@dataclass(frozen=True)
class GuestResult:
    """What one command in the guest did. ``returncode`` < 0: killed by that signal."""

    returncode: int
    stdout: bytes
    stderr: bytes
    seconds: float  # wall time inside the guest, spawn to exit
    timed_out: bool = False


def find_kernel() -> Path | None:
    """The UML kernel: ``$HARNESS_UML_KERNEL``, else ``linux.uml`` on PATH, else Debian's path."""
    env = os.environ.get(KERNEL_ENV)
    if env:
        p = Path(env)
        return p if p.is_file() and os.access(p, os.X_OK) else None
    found = shutil.which("linux.uml")
    if found:
        return Path(found)
    p = Path("/usr/bin/linux.uml")
    return p if p.is_file() and os.access(p, os.X_OK) else None


def _require_kernel() -> Path:
    kernel = find_kernel()
    if kernel is None:
        where = os.environ.get(KERNEL_ENV)
        raise UmlError(
            f"no user-mode Linux kernel ({KERNEL_ENV}={where} is not an executable file)" if where
            else "no user-mode Linux kernel (linux.uml is not on PATH nor at /usr/bin/linux.uml)",
            UML_INSTALL if not where else f"point {KERNEL_ENV} at a linux.uml binary, or unset it",
        )
    return kernel


def _under_tmp(path: Path) -> bool:
    # The guest mounts its own tmpfs on /tmp (else it would write into the host's), which
    # hides the host's /tmp from everything that runs inside.
    p = path.resolve()
    return p == Path("/tmp") or Path("/tmp") in p.parents


def _scratch_base() -> Path:
    base = Path(os.environ.get(SCRATCH_ENV) or "/var/tmp")
    if _under_tmp(base):
        raise UmlError(f"{SCRATCH_ENV}={base} is under /tmp, which the guest cannot see",
                       f"set {SCRATCH_ENV} to a directory outside /tmp, e.g. /var/tmp")
    return base


def check_visible(path: str | os.PathLike[str], what: str) -> None:
    """Raise if ``path`` is one the guest cannot see (under /tmp)."""
    if _under_tmp(Path(path)):
        raise UmlError(f"{what} {path} is under /tmp, which the UML guest replaces with its own tmpfs",
                       "use a directory outside /tmp (e.g. under /var/tmp or your home)")


def default_guest_mem() -> str:
    """Guest RAM for trials: ``$HARNESS_UML_MEM``, else three quarters of what this process
    is granted (host, Slurm job or cgroup; see guest_memory).

    UML backs guest memory lazily with a host file, so a large guest costs only what its
    trials touch, and tasks with gigabytes of declared memory fit in it.
    """
    from harness.backends.guest_memory import guest_mem

    return guest_mem(1)


def guest_env(env: Mapping[str, str]) -> dict[str, str]:
    """A caller's environment minus :data:`HOST_ONLY_ENV`; the agent puts python first on PATH."""
    return {k: v for k, v in env.items() if k not in HOST_ONLY_ENV}


# -- leak guard ---------------------------------------------------------------------------
_LIVE: dict[int, Path] = {}  # process group of a running linux.uml -> its scratch directory
_LIVE_LOCK = threading.Lock()


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _abandon(pgid: int) -> None:
    """Kill a guest without asking it to power off, and remove its scratch directory."""
    with _LIVE_LOCK:
        scratch = _LIVE.pop(pgid, None)
    _kill_group(pgid)
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)


@atexit.register
def _kill_leftovers() -> None:
    with _LIVE_LOCK:
        groups = list(_LIVE)
    for pgid in groups:
        _abandon(pgid)


# -- the guest ----------------------------------------------------------------------------
_INIT = """#!/bin/sh
# pid 1 of a harness UML guest (generated; see harness/backends/uml.py).
export PATH={path} HOME=/root LANG=C.UTF-8
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
[ -d /dev/shm ] && mount -t tmpfs tmpfs /dev/shm
mount -t cgroup2 cgroup2 /sys/fs/cgroup
# The host's /proc, for the agent to notice when the host process is gone.
mount -t hostfs none {scratch}/hostproc -o /proc
ip link set lo up 2>/dev/null
{network}hostname harness-uml 2>/dev/null
cd
PYTHONPATH={pythonpath} {python} -S -m harness.backends.uml_guest {spec}
status=$?
echo "harness-uml: agent exited with status $status"
# 3: the host process is gone, so nobody else will remove the scratch directory.
umount {scratch}/hostproc
[ "$status" = 3 ] && rm -rf --one-file-system {scratch}
poweroff -f
"""


class UmlGuest:
    """One booted UML guest that runs many commands. Use as a context manager.

    ``mem`` is the guest's RAM (UML syntax: 512M, 1G); ``scratch`` the parent of its
    scratch directory (default ``$HARNESS_UML_SCRATCH`` or /var/tmp; never under /tmp);
    ``env`` variables added to every command's environment.
    """

    def __init__(self, mem: str = "1G", scratch: str | os.PathLike[str] | None = None,
                 env: Mapping[str, str] | None = None,
                 disks: list[str | os.PathLike[str]] | None = None, network: str | None = None) -> None:
        if not _MEM_RE.match(mem):
            raise UsageError(f"guest memory {mem!r} is not a size", "give e.g. 512M or 1G")
        self.network = guest_network.resolve(network)  # "none" or "slirp"
        self.mem = mem
        # Host files the guest sees as block devices /dev/ubda, /dev/ubdb, ...: hostfs reads
        # bypass the guest's page cache, so what needs a real page cache (or swap) needs these.
        self.disks = [Path(d) for d in disks or []]
        self.env = dict(env or {})
        self._scratch_parent = Path(scratch) if scratch is not None else None
        self.scratch: Path | None = None
        self.umid = f"harness-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._ids = itertools.count()  # next() is atomic under the GIL: ids are unique across threads
        self._console: int | None = None  # write end of the console pipe, for nudges
        self._console_lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------
    def __enter__(self) -> UmlGuest:
        self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def console_log(self) -> Path:
        assert self.scratch is not None
        return self.scratch / "console.log"

    def start(self, timeout: float = BOOT_TIMEOUT) -> None:
        """Boot and wait until the guest agent serves requests."""
        if self._proc is not None:
            raise UmlError("this guest is already started", "use one UmlGuest per boot")
        kernel = _require_kernel()
        parent = self._scratch_parent or _scratch_base()
        check_visible(parent, "the scratch directory")
        parent.mkdir(parents=True, exist_ok=True)
        self.scratch = Path(tempfile.mkdtemp(prefix="harness-uml-", dir=parent))
        try:
            self._boot(kernel, timeout)
        except BaseException:
            self.close()
            raise

    def _boot(self, kernel: Path, timeout: float) -> None:
        s = self.scratch
        assert s is not None
        for d in ("req", "out", "uml", "hostproc"):
            (s / d).mkdir()
        python = os.path.realpath(sys.executable)
        pkg_root = str(Path(__file__).resolve().parents[2])  # the dir that holds harness/
        env = {"PATH": f"{os.path.dirname(python)}:/usr/sbin:/usr/bin:/sbin:/bin",
               "HOME": "/root", "LANG": "C.UTF-8", **self.env}
        spec = {"scratch": str(s), "env": env, "python_dir": os.path.dirname(python),
                "host_pid": os.getpid()}
        (s / "spec.json").write_text(json.dumps(spec))
        init = s / "init.sh"
        init.write_text(_INIT.format(path=shlex.quote(env["PATH"]), python=shlex.quote(python),
                                     pythonpath=shlex.quote(pkg_root), scratch=shlex.quote(str(s)),
                                     spec=shlex.quote(str(s / "spec.json")),
                                     network=guest_network.init_lines(self.network)))
        init.chmod(0o755)
        argv = [str(kernel), f"mem={self.mem}", f"umid={self.umid}", f"uml_dir={s / 'uml'}",
                *(f"ubd{i}={d}" for i, d in enumerate(self.disks)),
                *guest_network.kernel_args(self.network),
                "root=/dev/root", "rootfstype=hostfs", "rootflags=/", "rw", "quiet", "loglevel=1",
                "con=null", "con0=fd:0,fd:1", f"init={init}"]
        t0 = time.monotonic()
        with open(self.console_log, "wb") as log:
            # stdin: a pipe we never write to; its EOF tells the guest that we are gone.
            # A new session: linux.uml forks helper processes; we kill the whole group.
            self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        with _LIVE_LOCK:
            _LIVE[self._proc.pid] = s  # its own session: pid == process group
        assert self._proc.stdin is not None
        self._console = self._proc.stdin.fileno()
        os.set_blocking(self._console, False)  # a full pipe means nudges are pending anyway
        ready = s / "ready"
        while not ready.exists():
            if self._proc.poll() is not None:
                raise UmlError(f"the UML guest exited during boot (status {self._proc.returncode})"
                               f"\n{self._console_tail()}", self._boot_fix())
            if time.monotonic() - t0 > timeout:
                raise UmlError(f"the UML guest was not ready after {timeout:.0f} s\n{self._console_tail()}",
                               self._boot_fix())
            time.sleep(0.02)

    def _boot_fix(self) -> str:
        return (f"see the console log above; check that {sys.executable} runs, that {self.mem} of "
                f"memory is free, and that linux.uml works: {UML_INSTALL}")

    def _console_tail(self, lines: int = 25) -> str:
        try:
            text = self.console_log.read_bytes().decode(errors="replace").splitlines()
        except OSError:
            return "(no console log)"
        tail = text[-lines:]
        # A panic's reason comes before its stack trace, which fills the tail.
        reason = [t for t in text[:-lines] if "panic" in t.lower()][:1]
        return "console log (last lines):\n  " + "\n  ".join(reason + (["..."] if reason else []) + tail
                                                           if text else ["(empty)"])

    def death(self) -> UmlError:
        """Why this guest died under a command: memory, a signal, or unknown (guest_death)."""
        from harness.backends.guest_death import died

        rc = self._proc.returncode if self._proc is not None else None
        try:
            console = self.console_log.read_bytes().decode(errors="replace")
        except (OSError, AssertionError):
            console = ""
        return UmlError(*died(rc, console, self._console_tail()))

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def close(self, timeout: float = 10.0) -> None:
        """Power the guest off (cleanly if it answers), kill what lingers, remove scratch."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None and self.scratch is not None:
                with contextlib.suppress(OSError):
                    (self.scratch / "shutdown").touch()
                self.nudge()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout)
            # Always: linux.uml's helpers may outlive its main process.
            _kill_group(proc.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
            with self._console_lock:
                self._console = None
                if proc.stdin is not None:
                    proc.stdin.close()
            with _LIVE_LOCK:
                _LIVE.pop(proc.pid, None)
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    def nudge(self) -> None:
        """Wake the agent now (it also looks on its own, every 0.25 s)."""
        with self._console_lock:
            if self._console is not None:
                # Full pipe, or the guest is gone (EPIPE): either way nothing to do here.
                with contextlib.suppress(OSError):
                    os.write(self._console, b"\n")

    def __del__(self) -> None:
        # Last resort when close() was never called: kill, don't wait for a poweroff.
        proc = getattr(self, "_proc", None)
        if proc is not None:
            _abandon(proc.pid)

    # -- commands ---------------------------------------------------------------------
    def make_dir(self, prefix: str = "work-") -> Path:
        """A fresh directory both sides see (pytest's tmp_path is under /tmp, which the
        guest cannot see); removed with the scratch directory on close()."""
        if self.scratch is None:
            raise UmlError("the UML guest is not running", "start() it (or use it as a context manager)")
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.scratch))

    def submit(self, argv: list[str], *, cwd: str | os.PathLike[str] | None = None,
               env: Mapping[str, str] | None = None, timeout: float | None = None,
               stdin: bytes | None = None, live: bool = False) -> GuestCommand:
        """Start ``argv`` in the guest; returns a handle to wait on (see :meth:`run`)."""
        if not self.alive or self.scratch is None:
            raise UmlError("the UML guest is not running", "start() it (or use it as a context manager)")
        if not argv:
            raise UsageError("no command to run in the guest", "give a command")
        cwd = os.fspath(cwd) if cwd is not None else os.getcwd()
        check_visible(cwd, "the working directory")
        rid = f"{next(self._ids):06d}-{uuid.uuid4().hex[:6]}"
        req = self.scratch / "req"
        if stdin is not None:
            (req / f"{rid}.in").write_bytes(stdin)
        doc = {"argv": [os.fspath(a) for a in argv], "cwd": cwd, "env": dict(env or {}),
               "timeout": timeout, "stdin": stdin is not None, "live": live}
        tmp = req / f"{rid}.tmp"
        tmp.write_text(json.dumps(doc))
        tmp.rename(req / f"{rid}.json")  # atomic: the agent never reads half a request
        self.nudge()
        return GuestCommand(self, rid, timeout)

    def run(self, argv: list[str], *, cwd: str | os.PathLike[str] | None = None,
            env: Mapping[str, str] | None = None, timeout: float | None = None,
            stdin: bytes | None = None) -> GuestResult:
        """Run ``argv`` in the guest and wait. Thread-safe; commands run concurrently.

        ``cwd`` defaults to our current directory (same path inside); ``env`` is added
        to the guest's base environment. On ``timeout`` the command's process group is
        killed and the result has ``timed_out=True``.
        """
        return self.submit(argv, cwd=cwd, env=env, timeout=timeout, stdin=stdin).wait()


class GuestCommand:
    """A command submitted to a guest: wait for it, signal it, or read its output live."""

    def __init__(self, guest: UmlGuest, rid: str, timeout: float | None) -> None:
        assert guest.scratch is not None
        self.guest = guest
        self.rid = rid
        self.timeout = timeout
        out = guest.scratch / "out"
        self.stdout_path = out / f"{rid}.out"
        self.stderr_path = out / f"{rid}.err"
        self._rc_path = out / f"{rid}.rc"

    def done(self) -> bool:
        return self._rc_path.exists()

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the command's process group in the guest."""
        if self.guest.scratch is not None and not self.done():
            tmp = self.guest.scratch / "req" / f"{self.rid}.sigtmp"
            tmp.write_text(str(int(signum)))
            tmp.rename(self.guest.scratch / "req" / f"{self.rid}.signal")
            self.guest.nudge()

    def wait(self, tick: Callable[[], None] | None = None) -> GuestResult:
        """Block until the command ends; ``tick`` runs between polls (e.g. to relay output)."""
        # Slack on top of the command's own timeout, for the agent and a slow guest.
        deadline = None if self.timeout is None else time.monotonic() + self.timeout + 30.0
        sleep = _POLL
        started = time.monotonic()
        while not self._rc_path.exists():
            if tick is not None:
                tick()
            if not self.guest.alive:
                raise self.guest.death()
            if deadline is not None and time.monotonic() > deadline:
                raise UmlError("the UML guest agent did not report a timed-out command",
                               "the guest is unresponsive; close() it and boot another")
            time.sleep(sleep)
            # A stat on the host is cheap: look often while the command is young (most
            # are short), less often for long ones.
            sleep = min(sleep * 1.5, 0.01 if time.monotonic() - started < 2.0 else 0.05)
        doc = json.loads(self._rc_path.read_text())
        result = GuestResult(returncode=doc["rc"], stdout=_take(self.stdout_path),
                             stderr=_take(self.stderr_path), seconds=doc["seconds"],
                             timed_out=doc["timed_out"])
        self._rc_path.unlink(missing_ok=True)
        return result


def _take(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return b""
    path.unlink(missing_ok=True)
    return data
