#!/usr/bin/env python3
"""Per-trial overhead of the harness: `harness run -- true` and an in-process trial
against the bare command, on a real cgroup-v2 kernel (natively where `harness doctor`
passes, else inside a user-mode Linux guest).

    python scripts/bench_overhead.py [-n 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def inside(n: int) -> dict[str, dict[str, float]]:
    from harness.cgroup.workspace import Workspace
    from harness.limits import LimitSettings
    from harness.runner.trial import RunSpec, run_trial

    py = sys.executable
    cases = {
        "bare `true` (subprocess)": lambda: subprocess.run(["true"], check=True),
        "bare `python -c pass`": lambda: subprocess.run([py, "-c", "pass"], check=True),
        "`harness run -- true` (CLI)": lambda: subprocess.run(
            [py, "-m", "harness", "run", "--backend", "native", "--memory", "64M", "--", "true"],
            check=True, stderr=subprocess.DEVNULL),
    }
    results = {name: timed(fn, n) for name, fn in cases.items()}
    with Workspace.open("bench") as ws:
        limits = LimitSettings(memory_guarantee_bytes=64 << 20, memory_max_bytes=64 << 20)
        spec = RunSpec(command=["true"], limits=limits)
        results["in-process trial of `true` (run_trial)"] = timed(lambda: run_trial(ws, spec), n)
    return {k: {"median_ms": 1000 * statistics.median(v), "min_ms": 1000 * min(v), "n": len(v)}
            for k, v in results.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inside:
        print(json.dumps(inside(args.n)))
        return 0
    from harness.doctor import diagnose

    d = diagnose()
    here = [sys.executable, str(Path(__file__).resolve()), "--inside", "-n", str(args.n)]
    if d.native_ready:
        backend, doc = "native", inside(args.n)
    else:
        from harness.backends.uml import UmlGuest

        with UmlGuest() as guest:
            r = guest.run(here, cwd=str(Path(__file__).resolve().parent.parent))
        if r.returncode != 0:
            sys.stderr.write(r.stderr.decode())
            return 1
        backend, doc = "uml", json.loads(r.stdout)
    if args.json:
        print(json.dumps({"backend": backend, "results": doc}, indent=2))
        return 0
    print(f"kernel: {backend} (native cgroup v2 {'available' if d.native_ready else 'not usable here'})")
    for name, v in doc.items():
        print(f"  {name:42s} median {v['median_ms']:8.1f} ms   min {v['min_ms']:8.1f} ms   (n={v['n']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
