"""The trials of a sweep, in a shuffled, interleaved order fixed by the seed, and shards of it.

Order: repeat round 0 first, then round 1, and so on. Each round runs every (task, profile)
pair once, laid out in *stripes* of one trial per profile: for each profile the tasks are
shuffled on their own, and stripe ``s`` holds task number ``s`` of every profile's
shuffled list, the profiles within a stripe in a fresh shuffled order. So every profile has
exactly one trial in each stripe of ``len(profiles)`` consecutive trials, and drift over
the day (a busy neighbour, thermal state) falls evenly on every profile.

The shuffles draw on sha256 of the seed and a label, not on ``random``, so the plan is
the same on every machine and Python version: shards and ``--resume`` rely on that.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from harness.errors import UsageError
from harness.suite.task import TaskSpec
from harness.sweep.profiles import Profile

T = TypeVar("T")
_SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Trial:
    """One run of one task under one profile, by name. ``repeat`` counts from 0.

    ``seed_for_trial`` is the trial's own seed (HARNESS_TRIAL_SEED), from the sweep's seed
    and the trial id, so a trial keeps its seed across shards and resumes.
    """

    trial_id: str  # "task/profile/repeat"
    task: str
    profile: str
    repeat: int
    seed_for_trial: int


def trial_id(task: str, profile: str, repeat: int) -> str:
    return f"{task}/{profile}/{repeat}"


def seed_for_trial(sweep_seed: int, trial_id: str) -> int:
    """A 63-bit seed from the sweep's seed and the trial's id (sha256, stable everywhere)."""
    return _hash_int(f"trial:{sweep_seed}:{trial_id}") >> 1


def plan_trials(tasks: Sequence[TaskSpec], profiles: Sequence[Profile], repeats: int,
                seed: int) -> list[Trial]:
    """Every task × profile × repeat once, in the seed's order (see the module docstring).

    The order does not depend on the order ``tasks`` and ``profiles`` come in.
    """
    if repeats < 1:
        raise UsageError(f"--repeats {repeats}: must be at least 1", "give --repeats 1 or more")
    _unique([t.name for t in tasks], "task")
    _unique([p.name for p in profiles], "profile")
    tasks = sorted(tasks, key=lambda t: t.name)
    profiles = sorted(profiles, key=lambda p: p.name)
    out: list[Trial] = []
    for r in range(repeats):
        per_profile = {p.name: _shuffled(tasks, f"{seed}:{r}:tasks:{p.name}") for p in profiles}
        for s in range(len(tasks)):
            for p in _shuffled(profiles, f"{seed}:{r}:stripe:{s}"):
                task = per_profile[p.name][s].name
                tid = trial_id(task, p.name, r)
                out.append(Trial(tid, task, p.name, r, seed_for_trial(seed, tid)))
    return out


def shard_trials(trials: Sequence[Trial], i: int, n: int) -> list[Trial]:
    """Shard ``i`` of ``n`` (1-based): every n-th trial of the plan from position i-1.

    Shards are disjoint, together cover the plan, differ in size by at most one, and each
    keeps the plan's interleaved order.
    """
    _check_shard(i, n, f"{i}/{n}")
    return list(trials[i - 1::n])


shard = shard_trials


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` → (2, 4); i counts from 1."""
    m = _SHARD_RE.match(text)
    if not m:
        raise UsageError(f"--shard {text!r}: not of the form i/N",
                         "write e.g. --shard 2/4 (the second of four shards, counting from 1)")
    i, n = int(m.group(1)), int(m.group(2))
    _check_shard(i, n, text)
    return i, n


def _check_shard(i: int, n: int, text: str) -> None:
    if n < 1:
        raise UsageError(f"--shard {text!r}: N must be at least 1", "write e.g. --shard 1/4")
    if not 1 <= i <= n:
        raise UsageError(f"--shard {text!r}: i must be between 1 and {n}",
                         f"shards count from 1: --shard 1/{n} … --shard {n}/{n}")


def _unique(names: list[str], what: str) -> None:
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"{what} names given twice: {', '.join(dupes)}", f"give each {what} once")


def _hash_int(label: str) -> int:
    return int.from_bytes(hashlib.sha256(label.encode()).digest()[:8], "big")


def _shuffled(items: Sequence[T], label: str) -> list[T]:
    """Fisher–Yates with sha256(label, step) as the source of randomness."""
    out = list(items)
    for k in range(len(out) - 1, 0, -1):
        j = _hash_int(f"{label}:{k}") % (k + 1)
        out[k], out[j] = out[j], out[k]
    return out
