"""Benchmark `harness report` on 1,000,000 synthetic trial records.

Writes a result directory (500 tasks × 6 profiles × 334 repeats = 1,002,000 trials) whose
lines have the size and shape of real sweep records (the agent's RunRecord fields, the
sweep's fields, the verifier's record nested: ~1.9 KB each), then times (a) loading
trials.jsonl into the columnar table and (b) the analysis (`build_report`), and prints both.

    python scripts/bench_report.py [--out DIR] [--keep] [--sequential]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from harness.report.build import build_report
from harness.report.load import load_dirs
from harness.report.render import render_text
from harness.results.store import MANIFEST_FILE, TRIALS_FILE, write_json_atomic
from harness.schema.record import RunRecord

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.helpers_results import manifest as synthetic_manifest  # a manifest built through the schema

PROFILES: list[tuple[str, float | None]] = [
    ("1x", 1.0), ("1.5x", 1.5), ("2x", 2.0), ("3x", 3.0), ("5x", 5.0), ("uncapped", None)]


def template() -> dict[str, object]:
    base = RunRecord(outcome="passed", infra_reason=None, exit_code=0, returncode=0, signal=None,
                     timed_out=False, wall_seconds=12.3, command=["bash", "-c", "agent --task TASK"],
                     started_at="", harness_version="0.1.0", backend="native", cpu_usage_usec=123456,
                     memory_peak_bytes=123456789,
                     memory_events={"low": 0, "high": 0, "max": 3, "oom": 0, "oom_kill": 0,
                                    "oom_group_kill": 0},
                     pressure={"cpu": {"some": 1, "full": 2}, "memory": {"some": 1, "full": 2}},
                     limits={"memory.max": "536870912", "memory.low": "268435456",
                             "cpu.max": "200000 100000"},
                     cgroup="/sys/fs/cgroup/harness/trial").to_json()
    return {**base, "verifier": dict(base), "agent_outcome": "passed", "seed": 1, "sweep_id": "bench-1"}


def write(out: Path, n_tasks: int, repeats: int, seed: int = 1) -> int:
    rng = np.random.default_rng(seed)
    ability = rng.beta(1.2, 1.2, n_tasks)
    oom_prone = rng.random(n_tasks) < 0.15
    tmpl = template()
    tasks = [f"task-{i:04d}" for i in range(n_tasks)]
    manifest = synthetic_manifest(tasks, PROFILES, sweep_id="bench-1", seed=seed, repeats=repeats)
    write_json_atomic(out / MANIFEST_FILE, manifest)
    n = 0
    t0 = 1795824000.0
    with open(out / TRIALS_FILE, "w") as f:
        for i in range(n_tasks):
            task = f"task-{i:04d}"
            for name, mult in PROFILES:
                p_infra = 0.3 / (mult or 8.0) if oom_prone[i] else 0.005
                u = rng.random((repeats, 2))
                times = t0 + rng.random(repeats) * 86400
                for r in range(repeats):
                    infra = u[r, 0] < p_infra
                    outcome = "infra_error" if infra else ("passed" if u[r, 1] < ability[i] else "failed")
                    rec = dict(tmpl, trial_id=f"{task}/{name}/{r}", task=task, profile=name,
                               memory_multiplier=mult, cpu_multiplier=None, repeat=r, host="bench",
                               outcome=outcome, infra_reason="oom_kill" if infra else None,
                               started_at=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(times[r]))
                               + f".{int(times[r] % 1 * 1e6):06d}+00:00")
                    f.write(json.dumps(rec, separators=(",", ":"), sort_keys=True) + "\n")
                    n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="result directory to (re)use")
    ap.add_argument("--tasks", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=334)
    ap.add_argument("--keep", action="store_true", help="keep the generated directory")
    ap.add_argument("--sequential", action="store_true", help="also time a one-process load")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-report-"))
    out.mkdir(parents=True, exist_ok=True)
    if not (out / TRIALS_FILE).exists():
        t = time.perf_counter()
        n = write(out, args.tasks, args.repeats)
        print(f"generated {n:,} records in {time.perf_counter() - t:.1f} s")
    size = (out / TRIALS_FILE).stat().st_size
    print(f"trials.jsonl: {size / 1e9:.2f} GB, {os.cpu_count()} CPUs")
    if args.sequential:
        t = time.perf_counter()
        load_dirs([out], workers=1)
        print(f"(a) load, one process: {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    sweep = load_dirs([out])
    print(f"(a) load, {min(os.cpu_count() or 1, 8)} worker processes: {time.perf_counter() - t:.1f} s "
          f"for {len(sweep.table):,} trials")
    t = time.perf_counter()
    doc = build_report(sweep)
    print(f"(b) analysis (build_report): {time.perf_counter() - t:.2f} s")
    t = time.perf_counter()
    render_text(doc)
    print(f"    text rendering: {time.perf_counter() - t:.2f} s")
    if args.out is None and not args.keep:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
