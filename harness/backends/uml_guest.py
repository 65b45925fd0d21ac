"""The agent inside a user-mode Linux guest: runs the host's commands, hands results back.

Started by the generated init script (pid 1 is ``sh``, which also reaps orphans) as
``python -S -m harness.backends.uml_guest SPEC.json``. Stdlib only and few imports:
every module is read through hostfs, which is slow inside the guest.

Protocol, all through the scratch directory that host and guest share via hostfs
(the host's paths are the guest's paths):

- ``req/<id>.json``   the host renames a complete request into place (atomic);
- ``req/<id>.in``     optional stdin, written before the request;
- ``req/<id>.signal`` a signal number to forward to the command's process group;
- ``out/<id>.out``, ``out/<id>.err`` the command's output;
- ``out/<id>.rc``     JSON ``{rc, seconds, timed_out, error}``, renamed in last;
- ``ready``           written once the agent serves requests;
- ``shutdown``        the host asks the agent to end (init then powers off).

Wake-ups: the console's input (``con0=fd:0``) is a pipe from the host, which writes a
newline after each request; the agent sleeps in select() on it, and scans req/ anyway
every IDLE_POLL seconds.

Host death: the agent ends (kills every command, exits with status 3; init then removes
the scratch directory and powers off) when the host process is gone, seen two ways:
the host holds the write end of the console pipe; when it dies the pipe reports EOF
and UML hangs the console up, which sends us SIGHUP or ends a read of stdin. That
misses a host that died during boot (the console is closed before we open it, and
reads then block), so the agent also looks, every HOST_CHECK seconds, for the host's
pid in the host's /proc, which init mounts through hostfs at ``hostproc/``.
"""

from __future__ import annotations

import contextlib  # subprocess imports it anyway
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from typing import IO, Any

from harness.backends.protocol import guest_agent_environment
from harness.exits import ExitStatus

HOST_GONE = "host gone"  # exit status 3: init then removes the scratch directory
POLL = 0.02  # seconds between looks at req/ when the console cannot wake us
IDLE_POLL = 0.25  # seconds between looks at req/ without a nudge (in case one got lost)
HOST_CHECK = 0.5  # seconds between looks for the host process


class Agent:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.scratch: str = spec["scratch"]
        self.req = os.path.join(self.scratch, "req")
        self.out = os.path.join(self.scratch, "out")
        self.base_env: dict[str, str] = spec["env"]
        self.python_dir: str = spec["python_dir"]
        # The host's /proc, mounted by init through hostfs (hostfs caches no dentries, so
        # each stat asks the host).
        self.host_proc = os.path.join(self.scratch, "hostproc", str(spec["host_pid"]))
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.running: dict[str, subprocess.Popen[bytes]] = {}  # id -> process (its own session)

    # -- main loop -----------------------------------------------------------------
    def serve(self) -> str:
        # The console is our controlling tty: its hangup (host gone) sends SIGHUP. Catch it
        # (a handler, not SIG_IGN, so that commands start with the default disposition).
        signal.signal(signal.SIGHUP, lambda signum, frame: self.stop.set())
        console = _quiet_console()
        _write_atomic(os.path.join(self.scratch, "ready"), json.dumps({"pid": os.getpid()}).encode())
        seen: set[str] = set()
        shutdown = os.path.join(self.scratch, "shutdown")
        # Without the hostfs view of /proc (mount failed), rely on the console alone.
        next_check = 0.0 if os.path.exists(os.path.join(self.scratch, "hostproc", "1")) else float("inf")
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= next_check:
                if not os.path.exists(self.host_proc):
                    return HOST_GONE
                next_check = now + HOST_CHECK
            try:
                names = os.listdir(self.req)
            except OSError:
                return "scratch directory gone"
            for name in names:
                if name.endswith(".json") and name not in seen:
                    seen.add(name)
                    threading.Thread(target=self._serve_one, args=(name[:-5],), daemon=True).start()
                elif name.endswith(".signal"):
                    self._forward_signal(name[:-7])
            seen.intersection_update(names)  # forget requests already taken
            if os.path.exists(shutdown):
                return "shutdown requested"
            if not console:
                self.stop.wait(POLL)
                continue
            # Sleep until the host nudges us (a newline on the console after each request)
            # or IDLE_POLL passes: scanning hostfs every 20 ms would cost a few % of the one CPU.
            try:
                if select.select([0], [], [], IDLE_POLL)[0] and not os.read(0, 4096):
                    return HOST_GONE  # EOF: the host closed its end, i.e. it is gone
            except OSError:
                return HOST_GONE  # EIO: the console was hung up
        return HOST_GONE

    # -- one request ---------------------------------------------------------------
    def _serve_one(self, rid: str) -> None:
        path = os.path.join(self.req, rid + ".json")
        t0 = time.monotonic()
        result: dict[str, Any] = {"rc": None, "timed_out": False, "error": None}
        try:
            with open(path, "rb") as f:
                req = json.load(f)
            os.unlink(path)
            result.update(self._execute(rid, req, t0))
        except Exception as e:  # report, never let a request take the agent down
            result.update(rc=int(ExitStatus.HARNESS), error=f"agent: {type(e).__name__}: {e}")
        result["seconds"] = time.monotonic() - t0
        _write_atomic(os.path.join(self.out, rid + ".rc"), json.dumps(result).encode())

    def _execute(self, rid: str, req: dict[str, Any], t0: float) -> dict[str, Any]:
        env = dict(self.base_env)
        env.update(req.get("env") or {})
        # The python the host runs, by its real path, first: a pyenv shim costs ~5 s.
        parts = [p for p in env.get("PATH", "").split(":") if p and p != self.python_dir]
        env["PATH"] = ":".join([self.python_dir, *parts])
        env = guest_agent_environment(env)
        live = bool(req.get("live"))
        stdin_path = os.path.join(self.req, rid + ".in")
        stdin = open(stdin_path, "rb") if req.get("stdin") else subprocess.DEVNULL  # noqa: SIM115
        out = open(os.path.join(self.out, rid + ".out"), "wb")  # noqa: SIM115
        err = open(os.path.join(self.out, rid + ".err"), "wb")  # noqa: SIM115
        try:
            try:
                proc = subprocess.Popen(
                    req["argv"], cwd=req.get("cwd"), env=env, stdin=stdin,
                    stdout=subprocess.PIPE if live else out, stderr=subprocess.PIPE if live else err,
                    start_new_session=True,  # a group of its own: timeouts and signals reach all of it
                )
            except OSError as e:
                err.write(f"harness-uml: cannot run {req['argv'][0]!r} in {req.get('cwd')}: {e}\n".encode())
                status = ExitStatus.NOT_EXECUTABLE if isinstance(e, PermissionError) else ExitStatus.NOT_FOUND
                return {"rc": int(status), "error": str(e)}
            with self.lock:
                self.running[rid] = proc
            pumps = []
            if live:
                assert proc.stdout is not None and proc.stderr is not None  # PIPEs when live
                pumps = [_pump(proc.stdout, out), _pump(proc.stderr, err)]
            timeout = req.get("timeout")
            timed_out = False
            try:
                rc = proc.wait(None if timeout is None else max(0.0, timeout - (time.monotonic() - t0)))
            except subprocess.TimeoutExpired:
                timed_out = True
                _killpg(proc.pid, signal.SIGKILL)
                rc = proc.wait()
            _killpg(proc.pid, signal.SIGKILL)  # leftovers of the group (daemons) go with it
            for t in pumps:
                t.join(2.0)  # a survivor outside the group may hold the pipe open: don't wait forever
            return {"rc": rc, "timed_out": timed_out}
        finally:
            with self.lock:
                self.running.pop(rid, None)
            # Closing our copies is the point where hostfs writes the pages back to the host
            # (hostfs flushes on release), so this comes before the .rc file.
            for f in (out, err, stdin):
                if not isinstance(f, int):  # DEVNULL
                    f.close()
            if req.get("stdin"):
                _unlink(stdin_path)

    def _forward_signal(self, rid: str) -> None:
        path = os.path.join(self.req, rid + ".signal")
        try:
            with open(path) as f:
                signum = int(f.read().strip() or signal.SIGTERM)
            os.unlink(path)
        except (OSError, ValueError):
            return
        with self.lock:
            proc = self.running.get(rid)
        if proc is not None:
            _killpg(proc.pid, signum)

    def _kill_all(self) -> None:
        with self.lock:
            procs = list(self.running.values())
        for proc in procs:
            _killpg(proc.pid, signal.SIGKILL)


def _quiet_console() -> bool:
    """Make the console deliver nudges at once and not echo them; False if unusable."""
    try:
        import termios

        attrs = termios.tcgetattr(0)
        attrs[3] &= ~(termios.ICANON | termios.ECHO)  # lflags: no line buffering, no echo
        attrs[6][termios.VMIN], attrs[6][termios.VTIME] = 1, 0
        termios.tcsetattr(0, termios.TCSANOW, attrs)
    except (ImportError, OSError):
        pass  # canonical mode works too: each nudge ends with a newline
    try:
        select.select([0], [], [], 0)
    except (OSError, ValueError):
        return False
    return True


def _pump(src: IO[bytes], dst: IO[bytes]) -> threading.Thread:
    """Copy a pipe into a file, syncing each chunk so that the host sees it now.

    Without fsync the data would sit in the guest's page cache until writeback; fsync on
    hostfs writes the pages to the host file (and fsyncs that). Chunks grow while a sync
    runs, so a chatty command costs few syncs."""

    def run() -> None:
        fd = dst.fileno()
        while True:
            chunk = os.read(src.fileno(), 1 << 16)
            if not chunk:
                break
            os.write(fd, chunk)
            os.fsync(fd)
        src.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _killpg(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _write_atomic(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


def main(argv: list[str]) -> int:
    with open(argv[1]) as f:
        spec = json.load(f)
    agent = Agent(spec)
    try:
        reason = agent.serve()
    finally:
        agent._kill_all()
    with contextlib.suppress(OSError):  # the console is hung up when the host is gone
        print(f"harness-uml agent: stopping ({reason})", flush=True)
    return 3 if reason == HOST_GONE else 0


if __name__ == "__main__":
    # os._exit: a normal exit would flush stdout again, fail on a hung-up console, and
    # turn our status into 120. Nothing else needs cleaning up in this process.
    os._exit(main(sys.argv))
