"""Parsers of kernel files, on text recorded from real hosts (the behaviour is tested in UML)."""

from pathlib import Path

from harness.cgroup.discover import parse_mountinfo, parse_proc_cgroup
from harness.cgroup.fs import parse_keyed, parse_pressure
from harness.cgroup.workspace import safe_name

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
UNIFIED = "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"


def test_layouts():
    m = parse_mountinfo(HYBRID)
    assert m.layout == "hybrid" and m.v2 == Path("/sys/fs/cgroup/unified")
    assert "memory" in m.v1_controllers
    u = parse_mountinfo(UNIFIED)
    assert u.layout == "v2" and u.v2 == Path("/sys/fs/cgroup")
    assert parse_mountinfo("").layout == "none"


def test_proc_cgroup():
    assert parse_proc_cgroup("4:memory:/x\n0::/user.slice/run-1.scope\n") == "/user.slice/run-1.scope"
    assert parse_proc_cgroup("0::/\n") == "/"
    assert parse_proc_cgroup("4:memory:/x\n") is None


def test_keyed_and_pressure():
    assert parse_keyed("low 0\nhigh 3\nmax 7\noom 1\noom_kill 2\n")["oom_kill"] == 2
    assert parse_keyed("populated 1\nfrozen 0\n") == {"populated": 1, "frozen": 0}
    p = parse_pressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=1234\n"
                       "full avg10=0.00 avg60=0.00 avg300=0.00 total=99\n")
    assert p == {"some_total": 1234, "full_total": 99}


def test_safe_name_cannot_escape():
    for hostile in ("../../etc", "/abs/path", "a/b", "..", ".", "", "x" * 500, "ünï cödé"):
        name = safe_name(hostile)
        assert "/" not in name and name not in (".", "..") and 0 < len(name) <= 80


def test_the_trampoline_pipe_is_moved_below_ten_or_given_to_bash():
    """dash redirects only fds 0-9: a pipe at 10 or above moves to a free low slot, or
    (none free) goes to bash."""
    import os

    from harness.runner.spawn import _trampoline_fd

    held: list[int] = []
    while not held or held[-1] < 10:
        held.append(os.open("/dev/null", os.O_RDONLY))
    r, w = os.pipe()
    try:
        assert r >= 10
        fd, shell = _trampoline_fd(r)
        assert fd >= 10 and shell.endswith("bash")  # every slot below 10 is taken
        os.close(fd)
        low = [h for h in held if h < 10]
        if low:  # one of ours: free it and the pipe goes there, to dash
            os.close(low[0])
            held.remove(low[0])
            fd, shell = _trampoline_fd(r)
            assert (fd, shell) == (low[0], "/bin/sh")
            os.close(fd)
    finally:
        for h in [*held, r, w]:
            os.close(h)
