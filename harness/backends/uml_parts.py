"""`harness sweep --concurrency N` through user-mode Linux: one guest per CPU the plan can use.

A guest has one CPU, so N trials at once in one guest share it. Instead the sweep's plan
(or its shard i/n) is split into K parts, K = min(N, usable CPUs, trials), each run by a
guest of its own into ``OUT/part-J``. Part J of shard i/n is shard ((J-1)·n + i)/(n·K) of
the whole plan — ``trials[i-1::n][J-1::K]`` is ``trials[(J-1)·n+i-1::n·K]`` — so every part
keeps the plan's seed and sweep id, and ``harness report OUT`` reads the parts as one
sweep. The guests split the memory this process is granted (guest_memory).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import UsageError
from harness.results import store

if TYPE_CHECKING:
    from harness.sweep.execute import SweepSettings

PART_PREFIX = "part-"
# Options of the user's command line that each part sets for itself (all take a value).
_PART_SETS = ("--out", "--shard", "--seed", "--concurrency", "--backend")


@dataclass(frozen=True)
class Part:
    out: Path
    shard: str  # of the whole plan


def usable_cpus(env: dict[str, str] | None = None) -> int:
    """CPUs this process may run on, bounded by a Slurm job's CPUs on this node."""
    env = dict(os.environ) if env is None else env
    cpus = len(os.sched_getaffinity(0))
    slurm = env.get("SLURM_CPUS_ON_NODE", "")
    return max(1, min(cpus, int(slurm)) if slurm.isdigit() and int(slurm) > 0 else cpus)


def planned_trials(settings: SweepSettings) -> int:
    from harness.suite.parse import load_suite
    from harness.sweep.plan import parse_shard

    n_tasks = len(load_suite(settings.suite, settings.tasks).tasks)
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


def part_argv(argv: list[str], part: Part, seed: int, concurrency: int) -> list[str]:
    """The user's `sweep ...` arguments for one part: its own --out, --shard and share of
    the concurrency, the plan's --seed, natively in its guest; no --json (we summarise)."""
    out: list[str] = []
    k = 0
    while k < len(argv):
        arg = argv[k]
        if arg == "--":
            out.extend(argv[k:])
            break
        if arg in _PART_SETS:
            k += 2
            continue
        if arg != "--json" and not any(arg.startswith(o + "=") for o in _PART_SETS):
            out.append(arg)
        k += 1
    return [*out, "--out", str(part.out), "--shard", part.shard, "--seed", str(seed),
            "--concurrency", str(concurrency), "--backend", "native"]


def existing_parts(out: Path) -> list[Path]:
    """The part directories of a sweep split over guests (none for an ordinary one)."""
    if (out / store.MANIFEST_FILE).exists():
        return []
    return sorted((p.parent for p in out.glob(f"{PART_PREFIX}*/{store.MANIFEST_FILE}")),
                  key=lambda p: int(p.name[len(PART_PREFIX):]) if p.name[len(PART_PREFIX):].isdigit() else 0)


def run_parts(commands: list[list[str]], dirs: list[Path], out: Path, as_json: bool) -> int:
    """Run each part's `harness` command in a guest of its own; our exit status."""
    from harness.backends.choose import guest_environment
    from harness.backends.guest_memory import guest_mem
    from harness.backends.uml import UmlError
    from harness.backends.uml_relay import run_many

    mem = guest_mem(len(commands))
    print(f"harness: {len(commands)} user-mode Linux guests of {mem} (one CPU each), one part of the "
          f"sweep each, into {out}", file=sys.stderr)
    try:
        codes = run_many([[sys.executable, "-m", "harness", *c] for c in commands], cwd=os.getcwd(),
                         env=guest_environment(), mem=mem, stdout=sys.stderr,
                         labels=[d.name for d in dirs])
    except UmlError as e:
        print(f"harness: error: {e}", file=sys.stderr)
        return 125
    bad = [c for c in codes if c != 0]
    if not bad:
        if as_json:
            print(json.dumps({"out": str(out), "parts": [str(d) for d in dirs], "complete": True}))
        else:
            print(str(out))
        print(f"harness: sweep complete; report: harness report {out}", file=sys.stderr)
        return 0
    interrupted = all(c in (130, 129, 143) for c in bad)
    print(f"harness: error: {len(bad)} of {len(codes)} part(s) did not finish "
          f"({'interrupted' if interrupted else 'exit ' + str(bad[0])}); "
          f"resume with: harness sweep --resume {out}", file=sys.stderr)
    return 130 if interrupted else (2 if all(c == 2 for c in bad) else 125)


def start(argv: list[str], settings: SweepSettings, out: Path, k: int, as_json: bool) -> int:
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out} is not empty", "give a new or empty --out directory")
    out.mkdir(parents=True, exist_ok=True)
    ps = parts(settings, out.resolve(), k)
    # The N trials at once asked for, spread over the guests (more than one per guest
    # suits agents that mostly wait on a model).
    shares = [settings.concurrency // k + (1 if j < settings.concurrency % k else 0) for j in range(k)]
    return run_parts([part_argv(argv, p, settings.seed, c) for p, c in zip(ps, shares, strict=True)],
                     [p.out for p in ps], out, as_json)


def resume(out: Path, dirs: list[Path], as_json: bool) -> int:
    commands = [["sweep", "--resume", str(d.resolve()), "--backend", "native"] for d in dirs]
    return run_parts(commands, dirs, out, as_json)
