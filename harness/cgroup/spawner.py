"""The harness's side of the spawn server (``spawn_server.py`` says why it exists).

:class:`Spawner` starts the server and asks it for processes; each comes back as a
:class:`ServedProcess`, which waits, polls and signals through a pidfd and learns the exit
status from the server (the server, not the harness, is its parent).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import IO, Any

from harness.cgroup import spawn_server
from harness.cgroup.fs import cgroup_error
from harness.cgroup.group import Cgroup
from harness.errors import CgroupError, SpawnError
from harness.exits import ExitStatus

Stream = int | IO[Any] | None
_STATUS_POLLS = 200  # pidfd readable but not yet reapable: retry this many times, 1 ms apart
_MAX_POLL_MS = 3_600_000  # poll() takes a C int of milliseconds


class Spawner:
    """A running spawn server whose home is ``home`` (this process's own cgroup)."""

    def __init__(self, sock: socket.socket, pid: int, home: Cgroup,
                 proc: subprocess.Popen[bytes] | None) -> None:
        self._sock, self.pid, self.home, self._proc = sock, pid, home, proc
        self._lock = threading.Lock()
        self.dead: str | None = None  # why it stopped serving, once it has

    @classmethod
    def start(cls, home: Cgroup) -> Spawner:
        """Fork the server while this process has one thread (cheap); once it has more,
        fork is unsafe, so execute a fresh interpreter on ``spawn_server.py`` instead."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        home_procs = str(home.file("cgroup.procs"))
        # Until the server has its own handlers, a Ctrl-C would end it (or raise the
        # harness's KeyboardInterrupt in it): the signals wait, blocked, and the mask
        # passes through fork and exec; the server unblocks them once it is ready.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, spawn_server.SURVIVE)
        try:
            if threading.active_count() == 1:
                pid = os.fork()
                if pid == 0:  # pragma: no cover - the child; tested through its answers
                    code = 0
                    try:
                        ours.close()
                        spawn_server.run_forked(theirs, home_procs)
                    except BaseException:
                        import traceback

                        traceback.print_exc()
                        code = 1
                    os._exit(code)
                return cls(ours, pid, home, None)
            proc = subprocess.Popen([sys.executable, "-I", "-S", spawn_server.__file__,
                                     str(theirs.fileno()), home_procs],
                                    pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL)
            return cls(ours, proc.pid, home, proc)
        except OSError as e:
            ours.close()
            raise SpawnError(f"cannot start the harness's spawn server: {e.strerror or e}",
                             ExitStatus.HARNESS,
                             "the host is out of processes or memory; lower --concurrency") from None
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def _ask(self, message: dict[str, Any], fds: Sequence[int] = ()) -> tuple[dict[str, Any], list[int]]:
        with self._lock:
            got = None
            if self.dead is None:
                try:
                    spawn_server.send(self._sock, message, fds)
                    got = spawn_server.receive(self._sock)
                except OSError as e:
                    self.dead = f"its socket failed: {e}"
                if got is None and self.dead is None:
                    self.dead = "it closed its socket"
            if got is None:
                raise SpawnError(f"the harness's spawn server (pid {self.pid}) is gone: {self.dead}",
                                 ExitStatus.HARNESS,
                                 "a workload running as root can kill it (its parent); run agents as "
                                 "another user (--agent-user) or with --confine, and resume the sweep")
            return got

    def spawn(self, cgroup: Cgroup, argv: list[str], *, cwd: str | None, env: Mapping[str, str] | None,
              streams: tuple[Stream, Stream, Stream], new_session: bool,
              ids: Mapping[str, Any]) -> ServedProcess:
        """Start ``argv`` (its first item a path) inside ``cgroup``."""
        kinds, fds = [], []
        for number, stream in enumerate(streams):
            if stream == subprocess.DEVNULL:
                kinds.append("devnull")
                continue
            if stream == subprocess.PIPE:
                raise ValueError("the spawn server passes descriptors, not pipes: use the trampoline")
            kinds.append("fd")
            fds.append(number if stream is None else stream if isinstance(stream, int) else stream.fileno())
        reply, got = self._ask({"op": "spawn", "cgroup": str(cgroup.path), "argv": list(argv),
                                "cwd": cwd, "env": dict(os.environ if env is None else env),
                                "streams": kinds, "new_session": new_session, "ids": dict(ids)}, fds)
        error = reply.get("error")
        if error is None:
            return ServedProcess(argv, reply["pid"], got[0], self)
        for fd in got:
            os.close(fd)
        cause = OSError(reply["errno"], reply["strerror"])
        if error == "move":
            raise cgroup_error(cause, "write", cgroup.file("cgroup.procs"), "0")
        if error == "home":
            self.dead = f"it could not return to {self.home.path}: {reply['strerror']}"
            raise CgroupError(f"the spawn server could not leave {cgroup.path} for its own cgroup "
                              f"{self.home.path}: {reply['strerror']}",
                              "check that the harness's session cgroup still exists")
        raise SpawnError(f"cannot start {argv[0]}: {reply['strerror']}", ExitStatus.NOT_EXECUTABLE,
                         "check the working directory and the command")

    def status(self, pid: int) -> int | None:
        reply, _ = self._ask({"op": "status", "pid": pid})
        if not reply["known"]:
            raise SpawnError(f"the spawn server has no child {pid}", ExitStatus.HARNESS,
                             "this is a bug in the harness: report it")
        code: int | None = reply["returncode"]
        return code

    def close(self) -> None:
        """End the server (it reaps what has ended) and reap it."""
        with self._lock:
            self.dead = self.dead or "closed"
            self._sock.close()
        if self._proc is not None:
            self._proc.wait()
        else:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)


class ServedProcess:
    """What :class:`subprocess.Popen` offers a trial (``pid``, ``returncode``, ``poll``,
    ``wait``, ``send_signal``, ``kill``, ``terminate``) for a child of the spawn server.
    Signals go through a pidfd the server opened before anyone could reap the child, so
    they never reach a process that reused its pid."""

    def __init__(self, args: list[str], pid: int, pidfd: int, spawner: Spawner) -> None:
        self.args, self.pid, self.pidfd, self._spawner = args, pid, pidfd, spawner
        self.returncode: int | None = None

    def _ended(self, timeout_ms: float | None) -> bool:
        p = select.poll()
        p.register(self.pidfd, select.POLLIN)
        while timeout_ms is None or timeout_ms > _MAX_POLL_MS:
            if p.poll(_MAX_POLL_MS):
                return True
            if timeout_ms is not None:
                timeout_ms -= _MAX_POLL_MS
        return bool(p.poll(timeout_ms))

    def _reap(self) -> int:
        for _ in range(_STATUS_POLLS):
            code = self._spawner.status(self.pid)
            if code is not None:
                self.returncode = code
                os.close(self.pidfd)
                self.pidfd = -1
                return code
            select.select([], [], [], 0.001)
        raise SpawnError(f"process {self.pid} has ended but its parent, the spawn server, cannot reap it",
                         ExitStatus.HARNESS, "this is a bug in the harness: report it")

    def poll(self) -> int | None:
        if self.returncode is None and self._ended(0):
            self._reap()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if not self._ended(None if timeout is None else max(0.0, timeout) * 1000):
                raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
            self._reap()
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self.pidfd, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def __del__(self) -> None:
        if getattr(self, "pidfd", -1) >= 0:
            os.close(self.pidfd)
