"""Trial order: stable for a seed, different for another, profiles spread evenly; shards."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.suite.task import TaskSpec
from harness.sweep.plan import parse_shard, plan_trials, seed_for_trial, shard_trials
from harness.sweep.profiles import default_profiles, parse_profiles


def tasks(n: int) -> list[TaskSpec]:
    out = []
    for i in range(n):
        p = Path(f"/suite/task{i}")
        out.append(TaskSpec(f"task{i}", p, 1.0, 64 << 20, 60, 60, p / "instruction.md", None,
                            p / "tests" / "test.sh"))
    return out


def ids(trials: list) -> list[str]:
    return [t.trial_id for t in trials]


def test_every_trial_once_with_ids_and_seeds() -> None:
    trials = plan_trials(tasks(5), default_profiles(), 3, seed=1)
    assert len(trials) == 5 * 6 * 3 == len(set(ids(trials)))
    t = trials[0]
    assert t.trial_id == f"{t.task}/{t.profile}/{t.repeat}"
    assert t.seed_for_trial == seed_for_trial(1, t.trial_id)
    assert len({t.seed_for_trial for t in trials}) == len(trials)


def test_order_is_stable_for_a_seed_and_differs_for_another() -> None:
    a = plan_trials(tasks(6), default_profiles(), 2, seed=42)
    b = plan_trials(list(reversed(tasks(6))), list(reversed(default_profiles())), 2, seed=42)
    c = plan_trials(tasks(6), default_profiles(), 2, seed=43)
    assert ids(a) == ids(b)  # independent of the order the inputs come in
    assert ids(a) != ids(c) and sorted(ids(a)) == sorted(ids(c))
    assert [t.seed_for_trial for t in a] != [t.seed_for_trial for t in c]


def test_seeds_are_fixed_values_not_process_hashes() -> None:
    # sha256-derived: the same on every machine and Python (shards and resumes rely on it)
    assert seed_for_trial(0, "a/1x/0") == seed_for_trial(0, "a/1x/0")
    assert seed_for_trial(0, "a/1x/0") == 5294042799823344052
    first = plan_trials(tasks(3), parse_profiles("1x,3x"), 1, seed=0)
    assert ids(first) == ["task1/1x/0", "task0/3x/0", "task0/1x/0", "task2/3x/0", "task2/1x/0",
                          "task1/3x/0"]


def test_profiles_spread_evenly_over_time() -> None:
    profiles = default_profiles()
    trials = plan_trials(tasks(7), profiles, 3, seed=5)
    width = len(profiles)
    for start in range(0, len(trials), width):
        stripe = trials[start:start + width]
        assert Counter(t.profile for t in stripe) == Counter(p.name for p in profiles)
    for r in range(3):  # rounds come in order: repeat r occupies its own stretch of time
        block = trials[r * 42:(r + 1) * 42]
        assert {t.repeat for t in block} == {r}
        assert Counter((t.task, t.profile) for t in block) == Counter(
            (t.name, p.name) for t in tasks(7) for p in profiles)


def test_order_is_shuffled_not_grouped() -> None:
    trials = plan_trials(tasks(8), default_profiles(), 1, seed=3)
    runs = sum(1 for a, b in pairwise(trials) if a.task == b.task)
    assert runs < len(trials) // 2  # tasks are not run in long blocks
    assert [t.task for t in trials[:8]] != sorted(t.task for t in trials[:8])


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 200])
def test_shards_are_disjoint_and_cover_every_trial(n: int) -> None:
    trials = plan_trials(tasks(5), default_profiles(), 2, seed=9)
    shards = [shard_trials(trials, i, n) for i in range(1, n + 1)]
    all_ids = [tid for s in shards for tid in ids(s)]
    assert sorted(all_ids) == sorted(ids(trials))
    assert len(all_ids) == len(set(all_ids))
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 1
    again = plan_trials(tasks(5), default_profiles(), 2, seed=9)
    assert ids(shard_trials(again, 1, n)) == ids(shards[0])


def test_parse_shard() -> None:
    assert parse_shard("2/4") == (2, 4)
    assert parse_shard(" 1 / 1 ") == (1, 1)
    for bad, match in (("0/4", "between 1 and 4"), ("5/4", "between 1 and 4"), ("1/0", "at least 1"),
                       ("2", "not of the form"), ("a/b", "not of the form"), ("-1/4", "not of the form")):
        with pytest.raises(UsageError, match=match):
            parse_shard(bad)
    with pytest.raises(UsageError):
        shard_trials([], 3, 2)


def test_bad_plans_are_refused() -> None:
    with pytest.raises(UsageError, match="--repeats"):
        plan_trials(tasks(1), default_profiles(), 0, seed=1)
    with pytest.raises(UsageError, match="given twice"):
        plan_trials(tasks(1) + tasks(1), default_profiles(), 1, seed=1)
