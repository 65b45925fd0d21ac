"""The spawn server's protocol and bookkeeping, over plain directories standing in for
cgroups (its placement in real cgroups is tested in test_kernel_spawner.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cgroup.group import Cgroup
from harness.cgroup.spawner import Spawner
from harness.errors import CgroupError, SpawnError

NO_IDS: dict[str, object] = {}


def fake_cgroup(path: Path) -> Cgroup:
    path.mkdir()
    (path / "cgroup.procs").write_text("")
    return Cgroup(path)


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Cgroup, Cgroup]:
    return fake_cgroup(tmp_path / "home"), fake_cgroup(tmp_path / "trial")


@pytest.fixture(params=["forked", "executed"])
def spawner(request: pytest.FixtureRequest, dirs: tuple[Cgroup, Cgroup]) -> Iterator[Spawner]:
    """Both ways the server starts: forked while single-threaded, executed once threads run."""
    forked = request.param == "forked"
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait)
    if not forked:
        helper.start()
    try:
        assert threading.active_count() == (1 if forked else 2), threading.enumerate()
        sp = Spawner.start(dirs[0])
    finally:
        stop.set()
        if helper.is_alive():
            helper.join()
    assert (sp._proc is None) == forked
    yield sp
    sp.close()


def start(sp: Spawner, cg: Cgroup, script: str, **kw: object) -> object:
    opts: dict[str, object] = {"cwd": None, "env": None, "streams": (subprocess.DEVNULL,) * 3,
                               "new_session": False, "ids": NO_IDS}
    opts.update(kw)
    return sp.spawn(cg, ["/bin/sh", "-c", script], **opts)  # type: ignore[arg-type]


def test_exit_statuses_and_signals_come_back_as_popen_gives_them(spawner, dirs):
    trial = dirs[1]
    assert start(spawner, trial, "exit 3").wait() == 3
    killed = start(spawner, trial, "kill -9 $$")
    assert killed.wait() == -signal.SIGKILL
    sleeper = start(spawner, trial, "sleep 30")
    assert sleeper.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        sleeper.wait(timeout=0.05)
    sleeper.terminate()
    assert sleeper.wait(timeout=10) == -signal.SIGTERM
    assert sleeper.poll() == -signal.SIGTERM
    sleeper.kill()  # after the end: nothing to signal, no error


def test_the_server_moves_in_and_back_home(spawner, dirs):
    """Each spawn writes "0" into the trial's cgroup.procs, then into its own."""
    home, trial = dirs
    start(spawner, trial, "true").wait()
    assert (trial.path / "cgroup.procs").read_text() == "0"
    assert (home.path / "cgroup.procs").read_text() == "0"


def test_streams_env_and_cwd_reach_the_child(spawner, dirs, tmp_path):
    out = tmp_path / "out"
    with open(out, "wb") as fh:
        big = {f"BIG{i}": "x" * 100_000 for i in range(8)}  # 800 kB: past any socket buffer
        proc = start(spawner, dirs[1], 'echo "$HELLO ${#BIG7} $(pwd)"; ls /proc/self/fd', cwd=str(tmp_path),
                     env={"HELLO": "hi", **big, "PATH": os.environ["PATH"]},
                     streams=(subprocess.DEVNULL, fh, fh))
        assert proc.wait() == 0
    first, *fds = out.read_text().split("\n")
    assert first == f"hi 100000 {tmp_path}"
    # 0, 1, 2 and the descriptor ls opened to list them: nothing of the server's or ours
    assert sorted(int(f) for f in fds if f) == [0, 1, 2, 3]


def test_a_missing_cgroup_is_a_cgroup_error_and_nothing_runs(spawner, dirs, tmp_path):
    gone = Cgroup(tmp_path / "gone")
    marker = tmp_path / "ran"
    with pytest.raises(CgroupError, match=r"cannot write .*gone/cgroup.procs"):
        start(spawner, gone, f"touch {marker}")
    assert not marker.exists()
    assert start(spawner, dirs[1], "exit 0").wait() == 0  # still serving


def test_a_bad_working_directory_is_a_spawn_error(spawner, dirs, tmp_path):
    with pytest.raises(SpawnError, match="cannot start /bin/sh: No such file or directory") as e:
        start(spawner, dirs[1], "true", cwd=str(tmp_path / "nowhere"))
    assert e.value.exit_code == 126


def test_a_killed_server_is_said_and_the_exit_status_is_not_invented(spawner, dirs):
    proc = start(spawner, dirs[1], "sleep 30")
    os.kill(spawner.pid, signal.SIGKILL)
    proc.kill()
    with pytest.raises(SpawnError, match=r"spawn server .* is gone"):
        proc.wait(timeout=10)
    with pytest.raises(SpawnError, match="is gone"):
        start(spawner, dirs[1], "true")


def test_sigterm_sigint_and_sighup_do_not_stop_the_server(spawner, dirs):
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        os.kill(spawner.pid, sig)
    assert start(spawner, dirs[1], "exit 4").wait() == 4


def _dispositions(sp: Spawner, cg: Cgroup, out: Path) -> tuple[int, int]:
    """(caught, ignored) signal masks of a child the server starts."""
    with open(out, "wb") as fh:
        start(sp, cg, "grep -E '^Sig(Cgt|Ign)' /proc/self/status",
              streams=(subprocess.DEVNULL, fh, fh)).wait()
    status = dict(line.split(":\t") for line in out.read_text().splitlines())
    return int(status["SigCgt"], 16), int(status["SigIgn"], 16)


def test_children_do_not_inherit_the_servers_handlers(spawner, dirs, tmp_path):
    """The server catches SIGINT/SIGTERM/SIGHUP; its children start as the harness's would:
    nothing caught, and ignored only what the harness ignores (a background job ignores
    SIGINT), SIGPIPE restored."""
    caught, ignored = _dispositions(spawner, dirs[1], tmp_path / "status")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
        bit = 1 << (sig - 1)
        assert not caught & bit, sig
        expected = sig != signal.SIGPIPE and signal.getsignal(sig) == signal.SIG_IGN
        assert bool(ignored & bit) == expected, sig


def test_a_signal_the_harness_ignores_stays_ignored_for_children(dirs, tmp_path):
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        sp = Spawner.start(dirs[0])
    finally:
        signal.signal(signal.SIGHUP, before)
    try:
        os.kill(sp.pid, signal.SIGHUP)  # ignored by the server too
        _, ignored = _dispositions(sp, dirs[1], tmp_path / "status")
        assert ignored & (1 << (signal.SIGHUP - 1))
    finally:
        sp.close()


def test_close_ends_and_reaps_the_server(dirs):
    sp = Spawner.start(dirs[0])
    pid = sp.pid
    sp.close()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # already reaped
    with pytest.raises(SpawnError, match="closed"):
        start(sp, dirs[1], "true")


def test_the_executed_server_imports_only_the_standard_library():
    from harness.cgroup import spawn_server

    code = (f"import runpy, sys; sys.argv = ['x']; "
            f"runpy.run_path({spawn_server.__file__!r}, run_name='not_main'); "
            f"print(sorted(m for m in sys.modules if m.startswith('harness')))")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
