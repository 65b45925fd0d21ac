"""Synthetic result directories for the report and statistics tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harness.results.store import MANIFEST_FILE, TRIALS_FILE, TrialLog, write_json_atomic

DEFAULT_PROFILES: list[tuple[str, float | None]] = [("1x", 1.0), ("2x", 2.0), ("3x", 3.0), ("uncapped", None)]


def manifest(tasks: list[str], profiles: list[tuple[str, float | None]], **over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "sweep_id": "synthetic-1", "harness_version": "0.1.0", "python_version": "3.11.2",
        "suite": {"name": "synthetic", "checksum": "abc123", "tasks": tasks},
        "profiles": [{"name": n, "memory_multiplier": m, "cpu_multiplier": None, "memory_guarantee": 1.0,
                      "protection": "low"} for n, m in profiles],
        "seed": 7, "repeats": 1, "concurrency": 2, "backend": "native", "shard": None,
        "host": {"hostname": "host-a", "kernel": "6.1.0", "cpu_model": "Xeon", "cores": 8,
                 "memory_bytes": 16 << 30, "swap_bytes": 0, "cgroup_layout": "unified"},
        "cgroup_files": {"1x": {"memory.max": "536870912"}},
        "started_at": "2026-11-28T07:00:00+00:00", "finished_at": "2026-11-28T09:00:00+00:00",
    }
    doc.update(over)
    return doc


def trial(task: str, profile: str, mult: float | None, repeat: int, outcome: str, *,
          host: str = "host-a", t: float = 0.0, sweep_id: str = "synthetic-1") -> dict[str, Any]:
    minute, sec = divmod(int(t), 60)
    hour, minute = divmod(minute, 60)
    return {
        "trial_id": f"{task}/{profile}/{repeat}", "task": task, "profile": profile,
        "memory_multiplier": mult, "cpu_multiplier": None, "repeat": repeat, "host": host,
        "sweep_id": sweep_id, "outcome": outcome,
        "infra_reason": "oom_kill" if outcome == "infra_error" else None,
        "started_at": f"2026-11-28T{7 + hour:02d}:{minute:02d}:{sec:02d}.000000+00:00",
        "wall_seconds": 10.0, "memory_peak_bytes": 1 << 20, "memory_events": {"oom_kill": 0},
        "verifier": {"outcome": "passed", "started_at": "2026-11-28T00:00:00+00:00"},
    }


def simulate(rng: np.random.Generator, n_tasks: int, repeats: int,
             profiles: list[tuple[str, float | None]] | None = None,
             p_pass: dict[str, float] | None = None, p_infra: dict[str, float] | None = None,
             task_spread: float = 0.3, host: str = "host-a") -> list[dict[str, Any]]:
    """Trials whose pass probability varies by task (spread) and shifts by profile."""
    profiles = profiles or DEFAULT_PROFILES
    p_pass = p_pass or {}
    p_infra = p_infra or {}
    ability = np.clip(rng.normal(0.5, task_spread, n_tasks), 0.02, 0.98)
    out = []
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
