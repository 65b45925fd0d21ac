"""Running commands in fresh UML guests with their output relayed live to ours.

:func:`run_once` is what `harness vm` and ``--backend uml`` use; :func:`run_many` runs
several commands, each in a guest of its own, at once (the demo's shards).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import IO

from harness.backends.guest_death import await_signal, stopped
from harness.backends.uml import GuestCommand, GuestResult, UmlError, UmlGuest, check_visible, guest_env
from harness.exits import ExitStatus, killed_by


class _Tail:
    """Relays what a guest command writes to a file, as it grows, to one of our streams."""

    def __init__(self, path: Path, sink: IO[bytes] | _TextSink | _Prefixed) -> None:
        self.path, self.sink, self.pos = path, sink, 0

    def finish(self) -> None:
        if isinstance(self.sink, _Prefixed):
            self.sink.finish()

    def pump(self) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except FileNotFoundError:
            return
        if data:
            self.pos += len(data)
            self.sink.write(data)
            self.sink.flush()


def run_once(argv: list[str], *, cwd: str | os.PathLike[str], env: Mapping[str, str] | None,
             mem: str = "1G", disks: list[str] | None = None) -> int:
    """Boot a guest, run ``argv`` there with its output relayed live, power off.

    Returns the command's exit status (128+N when killed by signal N). SIGINT/SIGTERM to
    us are forwarded to the command; then the guest goes down and 130/143 comes back.
    ``env`` is the caller's environment, filtered through :func:`guest_env`.
    """
    return run_many([argv], cwd=cwd, env=env, mem=mem, disks=disks)[0]


def run_harness(argv: list[str], mem: str | None = None, disks: Sequence[str] = ()) -> int:
    """Run ``harness ARGV`` (from `guest_commands`) in a fresh guest over this host's files,
    in our working directory, with ``disks`` as its ubd disks; its exit status as `run_once` gives it."""
    from harness.backends.guest_commands import harness_command
    from harness.backends.protocol import guest_environment
    from harness.backends.uml import default_guest_mem

    return run_once(harness_command(argv), cwd=os.getcwd(), env=guest_environment(),
                    mem=mem or default_guest_mem(), disks=list(disks))


def run_many(commands: list[list[str]], *, cwd: str | os.PathLike[str], env: Mapping[str, str] | None,
             mem: str = "1G", labels: list[str] | None = None, stdout: IO[str] | None = None,
             disks: list[str] | None = None) -> list[int]:
    """Boot one guest per command (in parallel), run them at once, relay their output live.

    With ``labels``, each line of a command's output is prefixed with ``[label] ``; the
    commands' stdout goes to ``stdout`` (default: ours). Returns the exit statuses in
    order; signals are handled as in :func:`run_once`.
    """
    check_visible(cwd, "the working directory")
    interrupted: list[int] = []
    restore = _trap_signals(lambda signum: interrupted.append(signum))
    if disks and len(commands) > 1:
        raise UmlError("one set of disks cannot serve several guests", "give each guest its own disks")
    guests = [UmlGuest(mem=mem, disks=list(disks or [])) for _ in commands]
    try:
        with contextlib.ExitStack() as stack:
            for guest in guests:
                stack.callback(guest.close)
            try:
                _boot_all(guests)
            except UmlError:
                if await_signal(interrupted) is None:
                    raise
            if interrupted:
                return [killed_by(interrupted[0])] * len(commands)
            cmds = [g.submit(argv, cwd=cwd, env=guest_env(env or {}), live=True)
                    for g, argv in zip(guests, commands, strict=True)]
            tails = []
            for i, cmd in enumerate(cmds):
                prefix = f"[{labels[i]}] ".encode() if labels else b""
                tails.append([_Tail(cmd.stdout_path, _sink(stdout or sys.stdout, prefix)),
                              _Tail(cmd.stderr_path, _sink(sys.stderr, prefix))])
            return _relay_until_done(guests, cmds, tails, interrupted)
    finally:
        restore()


def _boot_all(guests: list[UmlGuest]) -> None:
    errors: list[BaseException] = []

    def boot(guest: UmlGuest) -> None:
        try:
            guest.start()
        except BaseException as e:  # re-raised below, in the caller's thread
            errors.append(e)

    threads = [threading.Thread(target=boot, args=(g,), daemon=True) for g in guests]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def _relay_until_done(guests: list[UmlGuest], cmds: list[GuestCommand], tails: list[list[_Tail]],
                      interrupted: list[int]) -> list[int]:
    status: list[int | None] = [None] * len(cmds)
    forwarded = 0.0
    while any(s is None for s in status):
        now = time.monotonic()
        if interrupted and not forwarded:
            for cmd, s in zip(cmds, status, strict=True):
                if s is None:
                    cmd.signal(interrupted[0])
            forwarded = now
        if forwarded and now - forwarded > 5.0:
            break  # a command ignores the signal: its guest goes down anyway
        for i, (guest, cmd) in enumerate(zip(guests, cmds, strict=True)):
            if status[i] is not None:
                continue
            for t in tails[i]:
                t.pump()
            if cmd.done():
                result = cmd.wait()
                _relay_rest(tails[i], result)  # wait() consumed the files: relay what is left
                for t in tails[i]:
                    t.finish()
                rc = result.returncode
                status[i] = killed_by(-rc) if rc < 0 else rc
            elif not guest.alive:
                status[i] = _dead_guest(guest, interrupted)
        time.sleep(0.1)
    if interrupted:
        return [killed_by(interrupted[0]) if s is None or s == 0 else s for s in status]
    return [s if s is not None else ExitStatus.HARNESS for s in status]


def _dead_guest(guest: UmlGuest, interrupted: list[int]) -> int:
    """128+N when signal N stopped the guest and us (say so); else raise why it died."""
    signum = await_signal(interrupted)
    if signum is None:
        raise guest.death()
    print(f"harness: {stopped(signum).message}", file=sys.stderr, flush=True)
    return killed_by(signum)


class _TextSink:
    """Bytes into a text stream that has no ``.buffer`` (pytest's capture, CliRunner)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, data: bytes) -> None:
        self.stream.write(data.decode(errors="replace"))

    def flush(self) -> None:
        self.stream.flush()


def _binary(stream: IO[str]) -> IO[bytes] | _TextSink:
    buffer = getattr(stream, "buffer", None)
    return buffer if buffer is not None else _TextSink(stream)


class _Prefixed:
    """Prefixes every line, so that several guests can share one stream legibly."""

    def __init__(self, sink: IO[bytes] | _TextSink, prefix: bytes) -> None:
        self.sink, self.prefix, self.partial = sink, prefix, b""

    def write(self, data: bytes) -> None:
        *lines, self.partial = (self.partial + data).split(b"\n")
        for line in lines:
            self.sink.write(self.prefix + line + b"\n")

    def flush(self) -> None:
        self.sink.flush()

    def finish(self) -> None:
        if self.partial:
            self.sink.write(self.prefix + self.partial + b"\n")
            self.partial = b""
        self.sink.flush()


def _sink(stream: IO[str], prefix: bytes) -> IO[bytes] | _TextSink | _Prefixed:
    return _Prefixed(_binary(stream), prefix) if prefix else _binary(stream)


def _relay_rest(tails: list[_Tail], result: GuestResult) -> None:
    for tail, data in zip(tails, (result.stdout, result.stderr), strict=True):
        rest = data[tail.pos:]
        if rest:
            tail.sink.write(rest)
            tail.sink.flush()


def _trap_signals(handler: Callable[[int], None]) -> Callable[[], None]:
    """Route SIGINT/SIGTERM to ``handler`` while a guest runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_signal(signum: int, frame: FrameType | None) -> None:
        handler(signum)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for s, h in old.items():
            signal.signal(s, h)

    return restore
