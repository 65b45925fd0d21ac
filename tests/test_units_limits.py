"""Sizes, multiples and the cgroup file values they become."""

import pytest

from harness.errors import UsageError
from harness.limits import LimitSettings, cpu_weight_for
from harness.units import format_size, parse_cpu_amount, parse_memory_amount, parse_size


@pytest.mark.parametrize(("text", "expected"), [
    ("512M", 512 << 20), ("2G", 2 << 30), ("2g", 2 << 30), ("1.5GiB", 3 << 29), ("64Mi", 64 << 20),
    ("1048576", 1 << 20), ("4k", 4096), (123, 123),
])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "-5M", "0", "2X", "1e9", "5 MB extra"])
def test_parse_size_rejects(text):
    with pytest.raises(UsageError) as e:
        parse_size(text, "--memory")
    assert "--memory" in e.value.message and e.value.fix


def test_format_size_roundtrip():
    for n in (1 << 20, 3 << 30, 48 << 20):
        assert parse_size(format_size(n)) == n
    assert format_size(None) == "max"


def test_memory_amounts():
    assert parse_memory_amount("3x", "l").resolve(1 << 30) == 3 << 30
    assert parse_memory_amount("1.5x", "l").resolve(2 << 30) == 3 << 30
    assert parse_memory_amount("max", "l").resolve(1 << 30) is None
    assert parse_memory_amount("256M", "l").resolve(None) == 256 << 20
    assert parse_memory_amount("0", "g").resolve(1 << 30) == 0  # no guarantee
    with pytest.raises(UsageError, match="needs a declared amount"):
        parse_memory_amount("2x", "l").resolve(None)
    with pytest.raises(UsageError):
        parse_memory_amount("0x", "l")


def test_cpu_amounts():
    assert parse_cpu_amount("3x", "c").resolve(0.5) == 1.5
    assert parse_cpu_amount("1.5", "c").resolve(None) == 1.5
    assert parse_cpu_amount("max", "c").unlimited
    with pytest.raises(UsageError):
        parse_cpu_amount("fast", "c")


def test_files_guarantee_and_limit_apart():
    s = LimitSettings(memory_guarantee_bytes=64 << 20, memory_max_bytes=192 << 20, cpu_max_cpus=0.5,
                      declared_cpus=1, pids_max=100)
    f = s.files()
    assert f["memory.low"] == str(64 << 20)
    assert f["memory.max"] == str(192 << 20)
    assert f["memory.swap.max"] == "0"
    assert f["memory.oom.group"] == "1"
    assert f["cpu.max"] == "50000 100000"
    assert f["pids.max"] == "100"
    # The guarantee is written before the limit (lowering max reclaims at once).
    keys = list(f)
    assert keys.index("memory.low") < keys.index("memory.max")


def test_files_min_protection_unlimited_and_rounding():
    f = LimitSettings(memory_guarantee_bytes=1000, protection="min", memory_max_bytes=None, cpu_max_cpus=None,
                      pids_max=None, oom_group=False).files()
    assert f["memory.min"] == "4096"  # rounded up to a page, never below what was asked
    assert "memory.low" not in f
    assert f["memory.max"] == "max" and f["cpu.max"] == "max 100000" and f["pids.max"] == "max"
    assert f["memory.oom.group"] == "0"


def test_guarantee_above_limit_is_refused():
    with pytest.raises(UsageError, match="above the limit"):
        LimitSettings(memory_guarantee_bytes=2 << 30, memory_max_bytes=1 << 30)


def test_cpu_weight_follows_kubernetes_mapping():
    # Kubernetes: shares = 1024 * cpus, weight = 1 + (shares - 2) * 9999 / 262142
    assert cpu_weight_for(1) == 39
    assert cpu_weight_for(2) == 79
    assert cpu_weight_for(None) == 100
    assert cpu_weight_for(1000) == 10000
