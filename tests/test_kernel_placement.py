"""Where the harness works and who kills what: explicit roots, delegated scopes, OOM sources."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

PY = sys.executable
ALLOC = "import sys; b = bytearray(int(sys.argv[1]) << 20); b[::4096] = b'x' * len(b[::4096])"
CG = "/sys/fs/cgroup"


@pytest.fixture
def scratch_cgroup(kernel, request):
    """A cgroup directly under the root, removed (bottom-up) afterwards."""
    path = f"{CG}/t-{request.node.name[:40]}"
    kernel.sh(f"echo '+memory +cpu +pids' > {CG}/cgroup.subtree_control; mkdir -p {path}")
    yield path
    kernel.sh(f"find {path} -depth -type d -exec rmdir {{}} \\; 2>/dev/null; true")


def test_kill_by_an_ancestors_limit_is_not_the_trials_own(kernel, scratch_cgroup):
    kernel.sh(f"echo 40M > {scratch_cgroup}/memory.max")
    r = kernel.harness("run", "--json", "--cgroup-root", f"{scratch_cgroup}/h", "--", PY, "-c", ALLOC, "64")
    rec = r.json()
    assert rec["cgroup"].startswith(f"{scratch_cgroup}/h/")  # worked where it was told to
    assert rec["limits"]["memory.max"] == "max"  # the trial itself had no limit
    assert rec["memory_events"]["oom_kill"] >= 1 and rec["memory_events"]["oom"] == 0
    assert rec["oom_kill_source"] == "ancestor"
    assert rec["outcome"] == "infra_error" and rec["infra_reason"] == "host_oom_kill"


def test_cgroup_root_outside_the_hierarchy_is_refused(kernel):
    r = kernel.harness("run", "--cgroup-root", "/var/tmp/not-a-cgroup", "--", "true")
    assert r.returncode == 125 and "not inside the cgroup-v2 mount" in r.stderr and "fix:" in r.stderr


def test_delegated_scope_holding_a_shell(kernel, scratch_cgroup):
    # As under `systemd-run --scope -p Delegate=yes`: the harness starts inside a cgroup of
    # its own next to the shell that launched it. It must move the shell to a leaf (no
    # internal processes), work below the scope, and leave the shell running.
    script = (f"echo $$ > {scratch_cgroup}/cgroup.procs; "
              f"{PY} -m harness run --json --memory 32M -- true; "
              f"echo shell-in=$(cat /proc/$$/cgroup)")
    r = kernel.sh(script)
    out, _, tail = r.stdout.rpartition("shell-in=")
    rec = json.loads(out)
    assert rec["outcome"] == "passed" and rec["cgroup"].startswith(f"{scratch_cgroup}/")
    assert rec["limits"]["memory.max"] == str(32 << 20)
    assert tail.strip() == f"0::{scratch_cgroup.removeprefix(CG)}/leaf"


def test_kill_by_the_global_oom_killer_is_told_apart(uml_kernel):
    # A guest of its own with little memory: a trial without a limit that allocates past
    # the machine's memory is killed by the global OOM killer, not by any cgroup limit.
    from harness.backends.uml import UmlGuest

    # In 16 MiB pieces: one 400 MB request would be refused up front by the overcommit
    # heuristic (a MemoryError, the workload's own failure), never reaching the OOM killer.
    grow = ("chunks = []\nwhile True:\n"
            "    b = bytearray(16 << 20); b[::4096] = b'x' * len(b[::4096]); chunks.append(b)")
    workload = f"echo 1000 > /proc/self/oom_score_adj; exec {PY} -c \"{grow}\""
    with UmlGuest(mem="192M") as guest:
        r = guest.run([PY, "-m", "harness", "run", "--json", "--", "sh", "-c", workload], timeout=300)
    rec = json.loads(r.stdout)
    assert rec["memory_events"]["oom_kill"] >= 1 and rec["memory_events"]["oom"] == 0
    assert rec["oom_kill_source"] == "host"
    assert rec["outcome"] == "infra_error" and rec["infra_reason"] == "host_oom_kill"
    assert r.returncode == 137


def _page_cache_kept(guest, cgroup: str, tag: str, guarantee: str) -> tuple[int, dict]:
    """Trial A caches a 40 MiB file and holds it while trial B streams a 70 MiB file through
    the same 80 MiB parent. Returns A's memory.current after B's pressure, and A's record."""
    d = "/mnt/disk"
    kept = f"{d}/{tag}"
    wait_for = "n=0; while [ ! -e {f} ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done; "
    hold = (f"cat {d}/a > /dev/null; touch {kept}.ready; " + wait_for.format(f=f"{kept}.go")
            + f"cat {CG}$(cut -d: -f3 /proc/self/cgroup)/memory.current > {kept}")
    script = (f"sync; echo 3 > /proc/sys/vm/drop_caches; "
              f"{PY} -m harness run --json --cgroup-root {cgroup}/h --memory 48M "
              f"--memory-guarantee {guarantee} --memory-limit max -- sh -c '{hold}' > {kept}.json & "
              + wait_for.format(f=f"{kept}.ready")
              + f"{PY} -m harness run --cgroup-root {cgroup}/h --memory-guarantee 0 --memory-limit max "
              f"-- sh -c 'cat {d}/b > /dev/null; cat {d}/b > /dev/null'; touch {kept}.go; wait; "
              f"cat {kept}; echo; cat {kept}.json")
    r = guest.run(["sh", "-c", script], timeout=300)
    assert r.returncode == 0, r.stderr
    current, _, rec = r.stdout.decode().partition("\n")
    return int(current), json.loads(rec)


def test_memory_low_protects_a_trial_from_a_siblings_pressure(uml_kernel, tmp_path_factory):
    # Page cache needs a real block device: hostfs reads bypass the guest's page cache.
    # So this guest gets an ext4 disk, and two trials share a parent limited to 80 MiB.
    from harness.backends.uml import UmlGuest

    disk = Path(os.environ.get("HARNESS_TEST_TMP", "/var/tmp")) / f"protect-{uuid.uuid4().hex[:6]}.img"
    subprocess.run(["truncate", "-s", "256M", str(disk)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(disk)], check=True)
    cgroup = f"{CG}/protect"
    setup = (f"mkdir -p /mnt/disk && mount /dev/ubda /mnt/disk && "
             f"dd if=/dev/zero of=/mnt/disk/a bs=1M count=40 2>/dev/null && "
             f"dd if=/dev/zero of=/mnt/disk/b bs=1M count=70 2>/dev/null && "
             f"echo '+memory +cpu +pids' > {CG}/cgroup.subtree_control && mkdir {cgroup} && "
             f"echo 80M > {cgroup}/memory.max")
    try:
        with UmlGuest(mem="512M", disks=[disk]) as guest:
            assert guest.run(["sh", "-c", setup]).returncode == 0
            protected, rec = _page_cache_kept(guest, cgroup, "p", "1x")
            unprotected, _ = _page_cache_kept(guest, cgroup, "u", "0")
    finally:
        disk.unlink(missing_ok=True)
    assert rec["limits"]["memory.low"] == str(48 << 20)
    assert protected > 36 << 20, protected  # its cache stayed in memory
    assert unprotected < protected - (12 << 20), (unprotected, protected)  # without it, reclaimed
