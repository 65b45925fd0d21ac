"""The UML backend against the real user-mode Linux kernel: one guest for the module."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.backends.uml import UmlGuest

pytestmark = pytest.mark.kernel

REPO = Path(__file__).resolve().parents[1]


def _uml_processes(umid: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        if f"umid={umid}" in (p.info["cmdline"] or []):
            found.append(p)
    return found


@pytest.fixture(scope="module")
def guest(uml_kernel: Path) -> Iterator[UmlGuest]:
    with UmlGuest(mem="512M") as g:
        yield g


def test_guest_has_cgroup_v2_memory_and_cpu(guest: UmlGuest) -> None:
    r = guest.run(["cat", "/sys/fs/cgroup/cgroup.controllers"])
    assert r.returncode == 0, r.stderr
    controllers = r.stdout.decode().split()
    assert "memory" in controllers and "cpu" in controllers


def test_status_and_streams_come_back_apart(guest: UmlGuest) -> None:
    r = guest.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (r.returncode, r.stdout, r.stderr) == (3, b"out\n", b"err\n")
    assert r.seconds >= 0 and not r.timed_out


def test_killed_by_signal_is_negative(guest: UmlGuest) -> None:
    assert guest.run(["sh", "-c", "kill -9 $$"]).returncode == -9


def test_cwd_env_and_stdin_are_honoured(guest: UmlGuest) -> None:
    r = guest.run(["sh", "-c", 'pwd; echo "$FOO $HARNESS_IN_UML $HARNESS_BACKEND_LABEL"; cat'],
                  cwd=str(REPO / "harness"), env={"FOO": "bar baz"}, stdin=b"piped")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == [str(REPO / "harness"), "bar baz 1 uml", "piped"]


def test_make_dir_is_shared_with_the_guest(guest: UmlGuest) -> None:
    d = guest.make_dir()
    (d / "given.txt").write_text("from-host")
    r = guest.run(["sh", "-c", "echo from-guest > made.txt; cat given.txt"], cwd=d)
    assert (r.returncode, r.stdout) == (0, b"from-host"), r.stderr
    assert (d / "made.txt").read_text() == "from-guest\n"


def test_default_cwd_is_ours_and_python_runs_by_real_path(guest: UmlGuest) -> None:
    r = guest.run(["python3", "-c", "import os, sys; print(os.getcwd()); print(sys.executable)"])
    assert r.returncode == 0, r.stderr
    cwd, exe = r.stdout.decode().splitlines()
    assert cwd == os.getcwd()
    assert os.path.dirname(exe) == os.path.dirname(os.path.realpath(sys.executable))


def test_missing_command_is_127(guest: UmlGuest) -> None:
    r = guest.run(["no-such-command-here"])
    assert r.returncode == 127 and b"no-such-command-here" in r.stderr


def test_timeout_kills_the_command(guest: UmlGuest) -> None:
    t0 = time.monotonic()
    r = guest.run(["sleep", "30"], timeout=0.5)
    assert r.timed_out and r.returncode == -9
    assert time.monotonic() - t0 < 10


def test_concurrent_runs_from_two_threads(guest: UmlGuest) -> None:
    # Each command marks itself running, then waits for the other's mark: both can only
    # finish with status 0 if they ran at the same time.
    d = guest.make_dir()
    results: dict[int, tuple[int, bytes]] = {}

    def work(i: int) -> None:
        script = (f"touch {d}/m{i}; n=0; while [ ! -e {d}/m{1 - i} ] && [ $n -lt 400 ]; "
                  f"do sleep 0.05; n=$((n+1)); done; [ -e {d}/m{1 - i} ] && echo {i}")
        r = guest.run(["sh", "-c", script])
        results[i] = (r.returncode, r.stdout)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {0: (0, b"0\n"), 1: (0, b"1\n")}


def test_close_leaves_no_uml_process(uml_kernel: Path) -> None:
    g = UmlGuest(mem="256M")
    g.start()
    scratch = g.scratch
    assert scratch is not None
    assert _uml_processes(g.umid), "the guest should be running"
    assert g.run(["true"]).returncode == 0
    g.close()
    assert _uml_processes(g.umid) == []
    assert not scratch.exists()


def test_harness_vm_relays_status_and_streams(uml_kernel: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "harness", "vm", "--", "sh", "-c",
                        "echo out; echo err >&2; exit 3"],
                       cwd=REPO, capture_output=True, timeout=120)
    assert p.returncode == 3, p.stderr
    assert p.stdout == b"out\n"
    assert p.stderr == b"err\n"
