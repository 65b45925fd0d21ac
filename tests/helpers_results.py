"""Synthetic result directories for the report and statistics tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np

from harness.results.store import MANIFEST_FILE, TRIALS_FILE, TrialLog, write_json_atomic
from harness.schema.manifest import BudgetInfo, HostInfo, Manifest, SuiteInfo, TaskSpecInfo
from harness.schema.record import Outcome, TrialRecord, VerifierResult
from harness.schema.settings import SweepSettings
from harness.sweep.profiles import Profile

DEFAULT_PROFILES: list[tuple[str, float | None]] = [("1x", 1.0), ("2x", 2.0), ("3x", 3.0), ("uncapped", None)]


def manifest(tasks: list[str], profiles: list[tuple[str, float | None]], **over: Any) -> dict[str, Any]:
    """A manifest as `harness sweep` writes it (built through the schema); ``over`` replaces
    fields, merging into objects such as ``suite``."""
    profs = tuple(Profile(n, m, m, 1.0 if m is None else min(1.0, m)) for n, m in profiles)
    host = HostInfo(hostname="host-a", kernel="6.1.0", os="Linux-6.1.0", machine="x86_64", cpu_model="Xeon",
                    cpu_mhz_max=None, cores=8, memory_bytes=16 << 30, swap_bytes=0, cgroup_layout="v2",
                    cgroup_mount="/sys/fs/cgroup", backend="native", python_version="3.11.2",
                    harness_version="0.1.0")
    settings = SweepSettings(suite=Path("/suites/synthetic"), profiles=profs, repeats=1, seed=7,
                             concurrency=2)
    doc = Manifest(
        sweep_id="synthetic-1", harness_version="0.1.0", python_version="3.11.2",
        suite=SuiteInfo(name="synthetic", path="/suites/synthetic", checksum="abc123", tasks=list(tasks),
                        specs={t: TaskSpecInfo(1.0, 512 << 20, 900.0, 900.0) for t in tasks}),
        settings=settings, profiles=profs, seed=7, repeats=1, concurrency=2, shard=None,
        agent=settings.agent, backend="native", host=host,
        budget=BudgetInfo(16 << 30, 8.0, 2, 1 << 30, 0.0, 15 << 30, 8.0),
        cgroup_files={"1x": {"512M/1cpu": {"memory.max": "536870912"}}}, cgroup_fixed={},
        n_trials_planned=len(tasks) * len(profiles), started_at="2026-11-28T07:00:00+00:00",
        finished_at="2026-11-28T09:00:00+00:00").to_json()
    for k, v in over.items():
        doc[k] = {**doc[k], **v} if isinstance(v, dict) and isinstance(doc.get(k), dict) else v
    return doc


def trial(task: str, profile: str, mult: float | None, repeat: int, outcome: str, *,
          host: str = "host-a", t: float = 0.0, sweep_id: str = "synthetic-1") -> dict[str, Any]:
    """A trial record as `harness sweep` writes it (built through the schema)."""
    minute, sec = divmod(int(t), 60)
    hour, minute = divmod(minute, 60)
    infra = outcome == "infra_error"
    o = cast(Outcome, outcome)
    verifier = VerifierResult(outcome="passed", infra_reason=None, exit_code=0, signal=None, timed_out=False,
                              wall_seconds=1.0, memory_peak_bytes=1 << 20, error=None, reward=None)
    return TrialRecord(
        outcome=o, infra_reason="oom_kill" if infra else None, exit_code=137 if infra else 0,
        returncode=-9 if infra else 0, signal=9 if infra else None, timed_out=False, wall_seconds=10.0,
        command=["bash", "solve.sh"],
        started_at=f"2026-11-28T{7 + hour:02d}:{minute:02d}:{sec:02d}.000000+00:00",
        harness_version="0.1.0", backend="native", memory_peak_bytes=1 << 20,
        memory_events={"oom_kill": 1 if infra else 0},
        trial_id=f"{task}/{profile}/{repeat}", task=task, profile=profile, memory_multiplier=mult,
        cpu_multiplier=None, repeat=repeat, seed=1, host=host, sweep_id=sweep_id,
        declared_memory_bytes=512 << 20, declared_cpus=1.0, agent_outcome=o, verifier=verifier,
    ).to_json()


def simulate(rng: np.random.Generator, n_tasks: int, repeats: int,
             profiles: list[tuple[str, float | None]] | None = None,
             p_pass: dict[str, float] | None = None, p_infra: dict[str, float] | None = None,
             task_spread: float = 0.3, host: str = "host-a") -> list[dict[str, Any]]:
    """Trials whose pass probability varies by task (spread) and shifts by profile."""
    profiles = profiles or DEFAULT_PROFILES
    p_pass = p_pass or {}
    p_infra = p_infra or {}
    ability = np.clip(rng.normal(0.5, task_spread, n_tasks), 0.02, 0.98)
    out: list[dict[str, Any]] = []
    times = rng.permutation(n_tasks * len(profiles) * repeats).astype(float)  # a shuffled run order
    for i in range(n_tasks):
        for name, mult in profiles:
            for r in range(repeats):
                t = times[len(out)]
                if rng.random() < p_infra.get(name, 0.0):
                    outcome = "infra_error"
                else:
                    p = np.clip(ability[i] + p_pass.get(name, 0.0), 0, 1)
                    outcome = "passed" if rng.random() < p else "failed"
                out.append(trial(f"task-{i:03d}", name, mult, r, outcome, host=host, t=t))
    return out


def write_sweep(directory: Path, records: list[dict[str, Any]], **manifest_over: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    tasks = sorted({r["task"] for r in records})
    profiles: dict[str, float | None] = {}
    for r in records:
        profiles.setdefault(r["profile"], r["memory_multiplier"])
    doc = manifest(tasks, list(profiles.items()), **manifest_over)
    write_json_atomic(directory / MANIFEST_FILE, doc)
    with TrialLog(directory / TRIALS_FILE) as log:
        for r in records:
            log.append(r)
    return directory
