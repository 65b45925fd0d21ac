"""Profile arithmetic, --profiles/--cpu-profiles, and sweep files with their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.suite.task import TaskSpec
from harness.sweep.profiles import (
    DEFAULT_PROFILE_NAMES,
    Profile,
    default_profiles,
    load_sweep_file,
    parse_profiles,
)

MIB = 1 << 20


def task(memory_mb: int = 2048, cpus: float = 1.0) -> TaskSpec:
    p = Path("/suite/t")
    return TaskSpec("t", p, cpus, memory_mb * MIB, 900.0, 900.0, p / "instruction.md", None,
                    p / "tests" / "test.sh")


def test_the_six_defaults() -> None:
    profiles = default_profiles()
    assert tuple(p.name for p in profiles) == DEFAULT_PROFILE_NAMES
    t = task(2048, 2)
    limits = {p.name: p.resolve(t) for p in profiles}
    one = limits["1x"]
    assert one.memory_guarantee_bytes == one.memory_max_bytes == 2048 * MIB
    assert one.cpu_max_cpus == 2.0 and one.declared_cpus == 2.0 and one.protection == "low"
    assert limits["1.5x"].memory_max_bytes == 3072 * MIB
    assert limits["3x"].memory_max_bytes == 6144 * MIB and limits["3x"].cpu_max_cpus == 6.0
    assert limits["5x"].memory_guarantee_bytes == 2048 * MIB
    free = limits["uncapped"]
    assert free.memory_max_bytes is None and free.cpu_max_cpus is None
    assert free.memory_guarantee_bytes == 2048 * MIB and free.swap_max_bytes == 0
    assert all(lim.declared_memory_bytes == 2048 * MIB for lim in limits.values())


def test_odd_sizes_round_up_to_whole_bytes() -> None:
    lim = Profile("1.5x", 1.5, 1.5).resolve(TaskSpec("t", Path("/t"), 0.25, 1001, 1, 1, Path("/i"),
                                                      None, Path("/v")))
    assert lim.memory_max_bytes == 1502 and lim.cpu_max_cpus == 0.375


def test_cpu_profiles_give_the_cross_product() -> None:
    profiles = parse_profiles("1x,3x", "1x,uncapped")
    assert [p.name for p in profiles] == ["1x-cpu1x", "1x-cpu-uncapped", "3x-cpu1x", "3x-cpu-uncapped"]
    lim = profiles[2].resolve(task(100, 1))
    assert lim.memory_max_bytes == 300 * MIB and lim.cpu_max_cpus == 1.0


def test_profile_parsing_accepts_spellings_and_refuses_nonsense() -> None:
    assert [p.name for p in parse_profiles(" 1X , max ")] == ["1x", "uncapped"]
    below = parse_profiles("0.5x")[0]
    assert below.guarantee_multiplier == 0.5  # a guarantee never above the limit
    for bad, match in (("", "empty"), ("3", "not a multiple"), ("2G", "not a multiple"),
                       ("1x,1.0x", "repeats"), ("-1x", "not a")):
        with pytest.raises(UsageError, match=match):
            parse_profiles(bad)
    with pytest.raises(UsageError, match="--cpu-profiles"):
        parse_profiles("1x", "fast")


def test_profile_validates_itself() -> None:
    with pytest.raises(UsageError, match="above the memory limit"):
        Profile("p", 1.0, 1.0, guarantee_multiplier=2.0)
    with pytest.raises(UsageError, match="neither 'low' nor 'min'"):
        Profile("p", 1.0, 1.0, protection="high")
    with pytest.raises(UsageError, match="characters outside"):
        Profile("a/b", 1.0, 1.0)


def test_sweep_file_ram_only(tmp_path: Path) -> None:
    f = tmp_path / "ram.toml"
    f.write_text("""
description = "RAM-only sweep, as the article's SWE-bench one"
repeats = 3
seed = 7
concurrency = 2
[[profile]]
name = "ram-1x"
memory = "1x"
cpu = "1x"
[[profile]]
memory = "3x"
cpu = "1x"
protection = "min"
memory_high = "2x"
[[profile]]
memory = "max"
cpu = "1x"
guarantee = "none"
[[profile]]
memory = "2x"
""")
    sweep = load_sweep_file(f)
    assert (sweep.repeats, sweep.seed, sweep.concurrency) == (3, 7, 2)
    names = [p.name for p in sweep.profiles]
    assert names == ["ram-1x", "3x-cpu1x", "uncapped-cpu1x", "2x"]
    lim = sweep.profiles[1].resolve(task(100, 1))
    assert lim.protection == "min" and lim.memory_high_bytes == 200 * MIB
    assert lim.memory_max_bytes == 300 * MIB and lim.cpu_max_cpus == 1.0
    assert sweep.profiles[2].resolve(task(100)).memory_guarantee_bytes == 0
    assert sweep.profiles[3].cpu_multiplier == 2.0


def test_sweep_file_lists_every_problem(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text("""
repeats = 0
colour = "blue"
[[profile]]
name = "a"
memory = "lots"
[[profile]]
name = "b"
memory = "1x"
guarantee = "2x"
[[profile]]
name = "c"
cpu = 3
protection = "high"
[[profile]]
name = "d"
memory = "1x"
speed = "fast"
[[profile]]
name = "a"
memory = "2x"
[[profile]]
name = "a"
memory = "4x"
""")
    with pytest.raises(UsageError) as info:
        load_sweep_file(f)
    text = str(info.value)
    for part in ("repeats: 0 is not a whole number", "unknown field 'colour'",
                 "profile #1 ('a'): memory: ", "profile #2 ('b'): guarantee 2x is above the memory limit 1x",
                 "profile #3 ('c'): memory: missing", "profile #3 ('c'): cpu: 3 must be a string",
                 "profile #4 ('d'): unknown field 'speed'", "profile name 'a' is used twice"):
        assert part in text, part


def test_sweep_file_unreadable_or_not_toml(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        load_sweep_file(tmp_path / "none.toml")
    (tmp_path / "x.toml").write_text("[[profile]\n")
    with pytest.raises(UsageError, match="not valid TOML"):
        load_sweep_file(tmp_path / "x.toml")
    (tmp_path / "e.toml").write_text("seed = 1\n")
    with pytest.raises(UsageError, match=r"no \[\[profile\]\]"):
        load_sweep_file(tmp_path / "e.toml")


def test_limits_convert_to_the_runner_settings() -> None:
    pytest.importorskip("harness.limits")
    settings = parse_profiles("3x")[0].resolve(task(100, 0.5))
    files = settings.files()
    assert files["memory.low"] == str(100 * MIB) and files["memory.max"] == str(300 * MIB)
    assert files["cpu.max"] == "150000 100000" and files["memory.swap.max"] == "0"
