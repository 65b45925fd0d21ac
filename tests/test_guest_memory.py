"""Guest memory comes from what this process is granted: host, Slurm job, own cgroup."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from harness.backends.guest_memory import cgroup_grant, grant, guest_mem, slurm_grant
from harness.errors import UsageError

HOST = psutil.virtual_memory().total


def test_slurm_variables_are_read_as_slurm_sets_them() -> None:
    g = slurm_grant({"SLURM_MEM_PER_NODE": "2048"})
    assert g is not None and g.bytes == 2048 << 20 and "SLURM_MEM_PER_NODE" in g.source
    g = slurm_grant({"SLURM_MEM_PER_CPU": "1000", "SLURM_CPUS_ON_NODE": "3"})
    assert g is not None and g.bytes == 3000 << 20
    assert slurm_grant({"SLURM_MEM_PER_CPU": "1000"}) == slurm_grant({"SLURM_MEM_PER_CPU": "1000",
                                                                      "SLURM_CPUS_ON_NODE": "x"})
    assert slurm_grant({}) is None and slurm_grant({"SLURM_MEM_PER_NODE": "0"}) is None


def test_guests_split_the_least_grant_and_never_promise_more() -> None:
    env = {"SLURM_MEM_PER_NODE": "4096"}
    assert grant(env).bytes == min(HOST, 4096 << 20)
    one, two = (int(guest_mem(n, env).rstrip("M")) for n in (1, 2))
    assert one == min(HOST, 4096 << 20) * 3 // 4 >> 20 and two * 2 <= one
    assert int(guest_mem(1, {}).rstrip("M")) <= HOST * 3 // 4 >> 20
    assert guest_mem(4, {"HARNESS_UML_MEM": "300M", **env}) == "300M"


def test_too_small_a_grant_is_refused_with_the_fix() -> None:
    with pytest.raises(UsageError, match="ask for more memory"):
        guest_mem(4, {"SLURM_MEM_PER_NODE": "512"})


def test_own_cgroup_limit_v1_and_v2(tmp_path: Path) -> None:
    (tmp_path / "memory" / "job_1").mkdir(parents=True)
    (tmp_path / "memory" / "job_1" / "memory.limit_in_bytes").write_text("1073741824\n")
    (tmp_path / "self").write_text("5:memory:/job_1\n0::/user.slice\n")
    g = cgroup_grant(tmp_path / "self", tmp_path)
    assert g is not None and g.bytes == 1 << 30
    (tmp_path / "user.slice").mkdir()
    (tmp_path / "user.slice" / "memory.max").write_text("max\n")
    (tmp_path / "self").write_text("0::/user.slice\n")
    assert cgroup_grant(tmp_path / "self", tmp_path) is None
    (tmp_path / "user.slice" / "memory.max").write_text("536870912\n")
    g = cgroup_grant(tmp_path / "self", tmp_path)
    assert g is not None and g.bytes == 512 << 20
