"""Start a command so that it is inside its trial cgroup before it execs.

Python cannot clone3(CLONE_INTO_CGROUP), and ``preexec_fn`` is unsafe once the parent
has threads (a sweep has). Two ways keep the command from ever running outside its cgroup:

- the workspace's spawn server (``harness/cgroup/spawn_server.py``), for a sweep's trials:
  it moves itself into the cgroup, vfork+execs the command there and moves back, so a
  trial costs no more execs than one done by hand;
- a tiny ``sh`` trampoline that waits on a pipe while the parent moves it into the cgroup,
  then execs the command: one more exec, but no server to fork. For a single trial
  (``harness run``), and for callers that need a whole :class:`subprocess.Popen` (pipes,
  ``communicate``: podman's own commands).

Either way errors of the move surface in the parent.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Mapping
from typing import Any, overload

from harness.cgroup.group import Cgroup
from harness.cgroup.spawner import ServedProcess, Spawner, Stream
from harness.errors import SpawnError
from harness.exits import ExitStatus

# $0 is the pipe's fd; a "go" line releases the trampoline, EOF aborts it.
_TRAMPOLINE = (f'eval "read go <&$0" && [ "$go" = go ] || exit {int(ExitStatus.HARNESS)}; '
               'eval "exec $0<&-"; exec "$@"')

Process = subprocess.Popen[bytes] | ServedProcess

# dash (/bin/sh on Debian) takes only one-digit descriptors in a redirection: with the pipe
# at fd 10 or above ("Bad fd number") the trampoline would exit 125 and the trial be
# recorded as the workload's failure. A busy harness (concurrent trials, their logs,
# watchers and timelines) easily has that many open, so the pipe is moved below 10, or
# handed to bash, which takes any descriptor.
_SHORT_FD_SHELL = "/bin/sh"


def _trampoline_fd(read_fd: int) -> tuple[int, str]:
    """(descriptor, shell) for the trampoline's end of the pipe: ``read_fd`` itself when it is
    low enough, else a duplicate the caller closes too."""
    if read_fd <= 9:
        return read_fd, _SHORT_FD_SHELL
    low = fcntl.fcntl(read_fd, fcntl.F_DUPFD_CLOEXEC, 3)
    if low <= 9:
        return low, _SHORT_FD_SHELL
    bash = shutil.which("bash") or ("/bin/bash" if os.access("/bin/bash", os.X_OK) else None)
    if bash is None:
        os.close(low)
        raise SpawnError("every descriptor below 10 is in use and there is no bash for the trampoline",
                         ExitStatus.HARNESS, "lower --concurrency, or install bash")
    return low, bash


def resolve(command: list[str], env: Mapping[str, str] | None, cwd: str | None) -> str:
    """The executable's path, or SpawnError with the status docker and sh use (127/126)."""
    if not command:
        raise SpawnError("no command given", ExitStatus.NOT_FOUND, "put the command after --")
    name = command[0]
    if "/" in name:
        path = name if os.path.isabs(name) else os.path.join(cwd or os.getcwd(), name)
        if not os.path.exists(path):
            raise SpawnError(f"{name}: no such file", ExitStatus.NOT_FOUND, "check the path")
    else:
        search = (env or os.environ).get("PATH", os.defpath)
        found = shutil.which(name, mode=os.F_OK, path=search)
        if found is None:
            raise SpawnError(f"{name}: command not found in PATH", ExitStatus.NOT_FOUND,
                             "install it or give its full path")
        path = found
    if os.path.isdir(path) or not os.access(path, os.X_OK):
        raise SpawnError(f"{name}: not executable", ExitStatus.NOT_EXECUTABLE,
                         f"chmod +x {path}, or run it through its interpreter")
    return path


def user_ids(user: str) -> dict[str, Any]:
    """Popen's ``user``/``group``/``extra_groups`` for a user name; SpawnError if unknown."""
    import pwd

    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise SpawnError(f"--agent-user {user}: no such user", ExitStatus.NOT_FOUND,
                         "create the user (e.g. useradd --system harness-agent) or name another") from None
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


@overload
def spawn_in_cgroup(cgroup: Cgroup, command: list[str], *, cwd: str | None = None,
                    env: Mapping[str, str] | None = None, stdin: Stream = None,
                    stdout: Stream = None, stderr: Stream = None,
                    new_session: bool = False, user: str | None = None,
                    spawner: None = None) -> subprocess.Popen[bytes]: ...
@overload
def spawn_in_cgroup(cgroup: Cgroup, command: list[str], *, cwd: str | None = None,
                    env: Mapping[str, str] | None = None, stdin: Stream = None,
                    stdout: Stream = None, stderr: Stream = None,
                    new_session: bool = False, user: str | None = None,
                    spawner: Spawner | None) -> Process: ...
def spawn_in_cgroup(cgroup: Cgroup, command: list[str], *, cwd: str | None = None,
                    env: Mapping[str, str] | None = None, stdin: Stream = None,
                    stdout: Stream = None, stderr: Stream = None,
                    new_session: bool = False, user: str | None = None,
                    spawner: Spawner | None = None) -> Process:
    """Start ``command`` in ``cgroup``; the caller owns the returned process. With
    ``spawner`` through it, else through the trampoline (which ``stdout=PIPE`` needs).

    With ``user``, the workload runs as that user (its own group, no others): it can then
    write none of the cgroup files the harness measures it by.
    """
    path = resolve(command, env, cwd)
    ids = {} if user is None else user_ids(user)
    if spawner is not None:
        return spawner.spawn(cgroup, [path, *command[1:]], cwd=cwd, env=env,
                             streams=(stdin, stdout, stderr), new_session=new_session, ids=ids)
    read_fd, write_fd = os.pipe()
    try:
        child_fd, shell = _trampoline_fd(read_fd)
    except BaseException:
        os.close(read_fd)
        os.close(write_fd)
        raise
    try:
        proc = subprocess.Popen(
            [shell, "-c", _TRAMPOLINE, str(child_fd), path, *command[1:]],
            cwd=cwd, env=dict(env) if env is not None else None, stdin=stdin, stdout=stdout,
            stderr=stderr, pass_fds=(child_fd,), start_new_session=new_session, **ids,
        )
    except OSError as e:
        os.close(write_fd)
        raise SpawnError(f"cannot start {command[0]}: {e.strerror}", ExitStatus.NOT_EXECUTABLE,
                         "check the working directory and the command") from None
    finally:
        os.close(read_fd)
        if child_fd != read_fd:
            os.close(child_fd)
    try:
        cgroup.add_process(proc.pid)
        os.write(write_fd, b"go\n")
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        os.close(write_fd)
    return proc
