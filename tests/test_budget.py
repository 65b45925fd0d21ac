"""Admission: a randomized schedule never exceeds the budget; impossible trials refused up front."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.limits import LimitSettings
from harness.suite.task import TaskSpec
from harness.sweep.budget import GIB, MIB, Budget, Demand, check_plan, default_memory_reserve
from harness.sweep.plan import plan_trials
from harness.sweep.profiles import default_profiles, parse_profiles


def task(name: str, memory: int, cpus: float) -> TaskSpec:
    p = Path(f"/suite/{name}")
    return TaskSpec(name, p, cpus, memory, 60, 60, p / "instruction.md", None, p / "tests" / "test.sh")


def limits(memory: int, cpus: float, cpu_max: float | None = None) -> LimitSettings:
    return LimitSettings(declared_memory_bytes=memory, declared_cpus=cpus, memory_guarantee_bytes=memory,
                         memory_max_bytes=memory, cpu_max_cpus=cpu_max)


def test_reserve_choice() -> None:
    assert default_memory_reserve(32 * GIB) == int(32 * GIB * 0.10)
    assert default_memory_reserve(256 * GIB) == 4 * GIB
    assert default_memory_reserve(1 * GIB) == 128 * MIB
    assert default_memory_reserve(100 * MIB) == 50 * MIB
    b = Budget(16 * GIB, 8, 4)
    assert b.memory_capacity == 16 * GIB - default_memory_reserve(16 * GIB)
    assert b.millicpu_capacity == 8000
    assert b.describe().cpu_capacity == 8.0


def test_demand_is_the_guarantee() -> None:
    assert Demand.of(limits(2 * GIB, 2)) == Demand(2 * GIB, 2000)
    assert Demand.of(limits(GIB, 2, cpu_max=0.5)) == Demand(GIB, 500)  # cpu.max below the spec


def test_randomized_schedule_never_exceeds_the_budget() -> None:
    rng = random.Random(1)
    for _ in range(50):
        host_mem, host_cpus = rng.choice([4, 8, 32]) * GIB, rng.choice([1, 2, 8])
        b = Budget(host_mem, host_cpus, concurrency=rng.randint(1, 6))
        pool = [limits(rng.choice([256 * MIB, GIB, 2 * GIB, 4 * GIB]), rng.choice([0.25, 0.5, 1, 2]))
                for _ in range(60)]
        pending = [lim for lim in pool if b.fits_ever(lim)]
        running: list[LimitSettings] = []
        started = 0
        while pending or running:
            i = 0
            while i < len(pending):  # start what fits, in plan order with backfill
                if b.try_start(pending[i]):
                    running.append(pending.pop(i))
                    started += 1
                else:
                    i += 1
            assert running, "nothing could start on an idle machine"
            assert len(running) <= b.concurrency
            assert sum(r.memory_guarantee_bytes for r in running) + b.memory_reserve_bytes <= host_mem
            assert sum(round(r.declared_cpus * 1000) for r in running) <= host_cpus * 1000
            held = sum(r.memory_guarantee_bytes for r in running)
            assert (b.running, b.used_memory) == (len(running), held)
            b.finish(running.pop(rng.randrange(len(running))))
        assert b.running == b.used_memory == b.used_millicpus == 0
        assert started == len([lim for lim in pool if b.fits_ever(lim)])


def test_start_and_finish_are_checked() -> None:
    b = Budget(4 * GIB, 2, concurrency=1)
    b.start(limits(GIB, 1))
    assert not b.can_start(limits(MIB, 0.25))  # the concurrency cap
    with pytest.raises(ValueError):
        b.start(limits(MIB, 0.25))
    b.finish(limits(GIB, 1))
    with pytest.raises(ValueError):
        b.finish(limits(GIB, 1))
    with pytest.raises(UsageError):
        Budget(GIB, 1, concurrency=0)


def test_impossible_trials_are_refused_up_front() -> None:
    suite = [task("small", 512 * MIB, 1), task("big", 15 * GIB, 1), task("wide", GIB, 4)]
    b = Budget(16 * GIB, 2, concurrency=4)
    trials = plan_trials(suite, default_profiles(), 3, seed=1)
    by_name = {t.name: t for t in suite}
    profiles = {p.name: p for p in default_profiles()}
    pairs = [(t.trial_id, profiles[t.profile].resolve(by_name[t.task])) for t in trials]
    with pytest.raises(UsageError) as info:
        check_plan(b, pairs)
    text = str(info.value)
    assert "big under 1x: its memory guarantee 15G exceeds the" in text
    assert "wide under 3x: its 4 CPUs exceed the 2 available" in text
    assert "small" not in text
    assert text.count("big under") == 6 and text.startswith("12 task/profile pair(s)")
    check_plan(b, [(tid, lim) for tid, lim in pairs if tid.startswith("small/")])


def test_one_cpu_guest_still_runs_the_demo() -> None:
    """A user-mode Linux guest: 1 CPU, 1 GiB. Every demo task must fit on its own."""
    from harness.demo_suite import demo_suite_path
    from harness.suite import load_suite

    b = Budget(GIB, 1, concurrency=2)
    suite = load_suite(demo_suite_path())
    for p in parse_profiles():
        for t in suite.tasks:
            assert b.fits_ever(p.resolve(t)), (t.name, p.name)
