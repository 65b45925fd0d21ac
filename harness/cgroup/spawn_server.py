"""The spawn server: a single-threaded process that starts commands inside cgroups.

Python has no clone3(CLONE_INTO_CGROUP). The cheapest way into a cgroup left is the one a
trial done by hand takes: move the spawning process into the cgroup, vfork+exec the child
there, move back. A harness cannot do that to itself: cgroup.procs moves a whole process,
so every thread of a sweep would be inside the trial for that moment, with whatever it
allocates or starts, and an OOM kill in the trial could pick the harness (the largest
process in it). Nor can a threaded harness fork a helper safely at will. So one helper is
forked (or, once threads exist, executed) early and does nothing else: it moves, spawns,
moves back, one request at a time, and keeps its children's exit statuses until asked.
Its alternative, an ``sh`` trampoline the harness moves before it execs the command, costs
one more exec per trial (30-40 ms in a user-mode Linux guest; see scripts/bench.py).

Protocol over a stream socket: each message is an 8-byte length and a ``marshal``-ed dict,
descriptors riding with the length as SCM_RIGHTS.

    {"op": "spawn", "cgroup", "argv", "cwd", "env", "streams", "new_session", "ids"}
        + a descriptor for each stream given as "fd"
        -> {"pid"} + the child's pidfd, opened before anyone can reap it
         | {"error": "move" | "exec" | "home", "errno", "strerror", "path"}
    {"op": "status", "pid"} -> {"returncode": int | None}   (reaps a child that has ended)

EOF ends the server: it reaps what has ended and exits. It outlives SIGINT, SIGTERM and
SIGHUP (the harness decides when it is done; its running trials still need their exit
statuses), and imports only the standard library: ``python -I -S spawn_server.py FD HOME``.
"""

from __future__ import annotations

import array
import contextlib
import gc
import marshal
import os
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

_HEADER = struct.Struct("!Q")
_MAX_FDS = 3
SURVIVE = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def send(sock: socket.socket, message: dict[str, Any], fds: Sequence[int] = ()) -> None:
    """One message; ``fds`` travel with its header."""
    body = marshal.dumps(message)
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    sent = sock.sendmsg([_HEADER.pack(len(body))], anc)
    if sent != _HEADER.size:  # a stream socket takes 8 bytes whole unless it is broken
        raise ConnectionError("short write on the spawn server's socket")
    sock.sendall(body)


def receive(sock: socket.socket) -> tuple[dict[str, Any], list[int]] | None:
    """One message and its descriptors; None at EOF."""
    header, fds, _, _ = socket.recv_fds(sock, _HEADER.size, _MAX_FDS)
    if not header:
        return None
    while len(header) < _HEADER.size:
        more = sock.recv(_HEADER.size - len(header))
        if not more:
            raise ConnectionError("the spawn server's socket closed mid-message")
        header += more
    (size,) = _HEADER.unpack(header)
    body = bytearray()
    while len(body) < size:
        chunk = sock.recv(min(size - len(body), 1 << 20))
        if not chunk:
            raise ConnectionError("the spawn server's socket closed mid-message")
        body += chunk
    return marshal.loads(bytes(body)), list(fds)


def _move(procs_file: str) -> None:
    fd = os.open(procs_file, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, b"0")  # "0": the writing process itself
    finally:
        os.close(fd)


def _oserror(stage: str, e: OSError) -> dict[str, Any]:
    return {"error": stage, "errno": e.errno or 0, "strerror": e.strerror or str(e),
            "path": None if e.filename is None else str(e.filename)}


def _spawn(req: dict[str, Any], fds: list[int], home: str,
           children: dict[int, subprocess.Popen[bytes]]) -> tuple[dict[str, Any], list[int]]:
    given = iter(fds)
    streams = [next(given) if s == "fd" else subprocess.DEVNULL if s == "devnull" else None
               for s in req["streams"]]
    try:
        _move(os.path.join(req["cgroup"], "cgroup.procs"))
    except OSError as e:
        return _oserror("move", e), []
    reply: dict[str, Any] = {}
    proc = None
    try:
        proc = subprocess.Popen(req["argv"], cwd=req["cwd"], env=req["env"], stdin=streams[0],
                                stdout=streams[1], stderr=streams[2],
                                start_new_session=req["new_session"], **req["ids"])
    except OSError as e:
        reply = _oserror("exec", e)
    except (ValueError, TypeError, subprocess.SubprocessError) as e:
        reply = {"error": "exec", "errno": 0, "strerror": str(e), "path": None}
    try:
        _move(home)
    except OSError as e:  # stuck inside the trial: it must not serve (or live) any longer
        if proc is not None:
            proc.kill()
        return _oserror("home", e), []
    if proc is None:
        return reply, []
    children[proc.pid] = proc
    return {"pid": proc.pid}, [os.pidfd_open(proc.pid)]


def serve(sock: socket.socket, home: str) -> None:
    """Answer requests until EOF; ``home`` is this process's own cgroup.procs."""
    for sig in SURVIVE:
        if signal.getsignal(sig) != signal.SIG_IGN:  # an ignored signal stays ignored for children
            signal.signal(sig, lambda *_: None)  # a handler, unlike SIG_IGN, ends at exec
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SURVIVE)  # blocked by the harness until now
    children: dict[int, subprocess.Popen[bytes]] = {}
    while True:
        try:
            got = receive(sock)
        except (ConnectionError, OSError):
            got = None
        if got is None:
            break
        req, fds = got
        give: list[int] = []
        try:
            if req["op"] == "spawn":
                reply, give = _spawn(req, fds, home, children)
            elif req["op"] == "status":
                proc = children.get(req["pid"])
                code = None if proc is None else proc.poll()
                if code is not None:
                    del children[req["pid"]]
                reply = {"returncode": code, "known": proc is not None}
            else:
                reply = {"error": "protocol", "errno": 0, "strerror": f"unknown op {req['op']!r}",
                         "path": None}
            send(sock, reply, give)
        except (ConnectionError, OSError):
            break
        finally:
            for fd in [*fds, *give]:
                os.close(fd)
        if reply.get("error") == "home":
            break
    for proc in children.values():
        proc.poll()


def run_forked(sock: socket.socket, home: str) -> None:
    """The body of a forked server: drop everything of the harness's but ``sock``."""
    # The harness's objects stay referenced from the frames above, never freed here; garbage
    # cycles it had not collected yet are frozen, so that no finalizer of theirs closes a
    # descriptor number this server has since reused.
    gc.freeze()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(null, fd)
    keep = sock.fileno()
    for name in os.listdir("/proc/self/fd"):  # not closerange up to the limit: it may be 2**20
        if int(name) > 2 and int(name) != keep:
            with contextlib.suppress(OSError):  # the listing's own descriptor, closed by now
                os.close(int(name))
    for sig in signal.valid_signals():  # the harness's own handlers are not the server's business
        if sig not in SURVIVE and callable(signal.getsignal(sig)):
            signal.signal(sig, signal.SIG_DFL)
    serve(sock, home)


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])), sys.argv[2])
