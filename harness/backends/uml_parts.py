"""`harness sweep --concurrency N` through user-mode Linux: one guest per CPU the plan can use.

A guest has one CPU, so N trials at once in one guest share it. Instead the sweep's plan
(or its shard i/n) is split into K parts, K = min(N, usable CPUs, trials), each run by a
guest of its own into ``OUT/part-J``. Part J of shard i/n is shard ((J-1)·n + i)/(n·K) of
the whole plan — ``trials[i-1::n][J-1::K]`` is ``trials[(J-1)·n+i-1::n·K]`` — so every part
keeps the plan's seed and sweep id, and ``harness report OUT`` reads the parts as one
sweep. The guests split the memory this process is granted (guest_memory).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import UsageError
from harness.exits import ExitStatus, killed_by
from harness.results import store

if TYPE_CHECKING:
    from harness.schema.settings import SweepSettings

PART_PREFIX = "part-"
# A part stopped by one of these (or cleanly, 130) left a resumable part.
_INTERRUPTED = frozenset({ExitStatus.INTERRUPTED, *(killed_by(s) for s in (signal.SIGHUP, signal.SIGTERM))})


@dataclass(frozen=True)
class Part:
    out: Path
    shard: str  # of the whole plan


def usable_cpus(env: Mapping[str, str] | None = None) -> int:
    """CPUs this process may run on, bounded by a Slurm job's CPUs on this node."""
    env = os.environ if env is None else env
    cpus = len(os.sched_getaffinity(0))
    slurm = env.get("SLURM_CPUS_ON_NODE", "")
    return max(1, min(cpus, int(slurm)) if slurm.isdigit() and int(slurm) > 0 else cpus)


def planned_trials(settings: SweepSettings) -> int:
    from harness.suite.parse import load_suite
    from harness.sweep.plan import parse_shard

    n_tasks = len(load_suite(settings.suite, list(settings.tasks) if settings.tasks else None).tasks)
    total = n_tasks * len(settings.profiles) * settings.repeats
    if settings.shard is None:
        return total
    i, n = parse_shard(settings.shard)
    return len(range(i - 1, total, n))


def guests_for(settings: SweepSettings, cpus: int) -> int:
    """How many guests the sweep can use: one per CPU, no more than asked or than trials."""
    return max(1, min(settings.concurrency, cpus, planned_trials(settings)))


def parts(settings: SweepSettings, out: Path, k: int) -> list[Part]:
    from harness.sweep.plan import parse_shard

    i, n = parse_shard(settings.shard) if settings.shard else (1, 1)
    return [Part(out / f"{PART_PREFIX}{j}", f"{(j - 1) * n + i}/{n * k}") for j in range(1, k + 1)]


def part_settings(settings: SweepSettings, part: Part, concurrency: int) -> SweepSettings:
    """The sweep's settings for one part: its shard of the plan (same seed) and its share of
    the concurrency."""
    return dataclasses.replace(settings, shard=part.shard, concurrency=concurrency)


def existing_parts(out: Path) -> list[Path]:
    """The part directories of a sweep split over guests (none for an ordinary one)."""
    if (out / store.MANIFEST_FILE).exists():
        return []
    return sorted((p.parent for p in out.glob(f"{PART_PREFIX}*/{store.MANIFEST_FILE}")),
                  key=lambda p: int(p.name[len(PART_PREFIX):]) if p.name[len(PART_PREFIX):].isdigit() else 0)


def result_dirs(out: Path) -> list[Path]:
    """The result directories a sweep into ``out`` wrote: ``out``, or its parts."""
    return existing_parts(out) or [out]


def run_parts(argvs: list[list[str]], dirs: list[Path], out: Path, *, mem: str | None,
              as_json: bool) -> int:
    """Run each part's `harness` command line in a guest of its own; our exit status.
    Raises UsageError (too little memory for the guests) or UmlError (a guest failed)."""
    from harness.backends.guest_commands import harness_command
    from harness.backends.guest_memory import guest_mem
    from harness.backends.protocol import guest_environment
    from harness.backends.uml_relay import run_many

    mem = mem or guest_mem(len(argvs))
    print(f"harness: {len(argvs)} user-mode Linux guests of {mem} (one CPU each), one part of the "
          f"sweep each, into {out}", file=sys.stderr)
    codes = run_many([harness_command(a) for a in argvs], cwd=os.getcwd(), env=guest_environment(),
                     mem=mem, stdout=sys.stderr, labels=[d.name for d in dirs])
    bad = [c for c in codes if c != ExitStatus.OK]
    if not bad:
        if as_json:
            print(json.dumps({"out": str(out), "parts": [str(d) for d in dirs], "complete": True}))
        else:
            print(str(out))
        print(f"harness: sweep complete; report: harness report {out}", file=sys.stderr)
        return ExitStatus.OK
    interrupted = all(c in _INTERRUPTED for c in bad)
    print(f"harness: error: {len(bad)} of {len(codes)} part(s) did not finish "
          f"({'interrupted' if interrupted else 'exit ' + str(bad[0])}); "
          f"resume with: harness sweep --resume {out}", file=sys.stderr)
    if interrupted:
        return ExitStatus.INTERRUPTED
    return ExitStatus.BAD_INPUT if all(c == ExitStatus.BAD_INPUT for c in bad) else ExitStatus.HARNESS


def start(settings: SweepSettings, out: Path, k: int, *, cgroup_root: Path | None = None,
          mem: str | None = None, as_json: bool = False) -> int:
    from harness.backends.guest_commands import sweep_argv

    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out} is not empty", "give a new or empty --out directory")
    out.mkdir(parents=True, exist_ok=True)
    ps = parts(settings, out.resolve(), k)
    # The N trials at once asked for, spread over the guests (more than one per guest
    # suits agents that mostly wait on a model).
    shares = [settings.concurrency // k + (1 if j < settings.concurrency % k else 0) for j in range(k)]
    # No --json in the parts: we summarise.
    argvs = [sweep_argv(part_settings(settings, p, c), p.out, cgroup_root=cgroup_root)
             for p, c in zip(ps, shares, strict=True)]
    return run_parts(argvs, [p.out for p in ps], out, mem=mem, as_json=as_json)


def resume(out: Path, dirs: list[Path], *, cgroup_root: Path | None = None, mem: str | None = None,
           as_json: bool = False) -> int:
    """Resume the parts that did not finish (`sweep --resume` refuses a finished one)."""
    from harness.backends.guest_commands import resume_argv

    todo = [d for d in dirs if store.read_manifest(d).finished_at is None]
    if not todo:
        raise UsageError(f"{out}: every part of the sweep finished; nothing to resume",
                         f"report it: harness report {out}")
    argvs = [resume_argv(d.resolve(), cgroup_root=cgroup_root) for d in todo]
    return run_parts(argvs, todo, out, mem=mem, as_json=as_json)
