#!/usr/bin/env python3
"""The timeline sampler's cost: the harness's CPU during an idle trial, with and without sampling.

    python scripts/bench_timeline.py [--seconds 20] [--interval 0.1] [--rounds 3] [--json]

As `scripts/bench.py`'s watcher case (on the `bench` branch): `run_trial` of `sleep S`,
the harness process's CPU (os.times) minus that of a trial of `true`, per second of the
trial; here once with a timeline written and once without, interleaved over rounds. Runs
natively where `harness doctor` passes, else inside one user-mode Linux guest. Also
reports the timeline file's size and sample count, and extrapolates both to 10 minutes
from the sampling policy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TRIAL_MEMORY = 64 << 20


def cpu_of(ws: Any, argv: list[str], timeline_path: Path | None, interval: float) -> float:
    from harness.limits import LimitSettings
    from harness.runner.timeline import SamplePolicy
    from harness.runner.trial import RunSpec, run_trial

    t = os.times()
    run_trial(ws, RunSpec(command=argv, limits=LimitSettings(memory_max_bytes=TRIAL_MEMORY),
                          name="bench-tl", timeline=timeline_path, sampling=SamplePolicy(first=interval)))
    u = os.times()
    return (u.user - t.user) + (u.system - t.system)


def samples_in(seconds: float, interval: float) -> int:
    from harness.runner.timeline import SamplePolicy

    p, t, n = SamplePolicy(first=interval), 0.0, 0
    while t <= seconds:
        n, t = n + 1, t + p.interval(t)
    return n


# Memory that never stays flat: a sawtooth, 2 MiB more every 0.1 s up to 40 MiB, then freed,
# so every interval sees it move and the sampling stays as dense as the policy allows.
MOVING = ("import time\nend = time.monotonic() + {s}\nblocks = []\nwhile time.monotonic() < end:\n"
          "    b = bytearray(2 << 20); b[::4096] = b'x' * len(b[::4096]); blocks.append(b)\n"
          "    blocks = [] if len(blocks) >= 20 else blocks\n    time.sleep(0.1)\n")


def inside(seconds: float, interval: float, rounds: int) -> dict[str, Any]:
    from harness.cgroup.workspace import Workspace

    scratch = Path(tempfile.mkdtemp(prefix="bench-tl-", dir="/var/tmp"))
    tl = scratch / "timeline.json"
    cases = {"idle": ["sleep", f"{seconds:g}"],
             "moving": [sys.executable, "-S", "-c", MOVING.format(s=seconds)]}
    out: dict[str, Any] = {"seconds": seconds, "interval": interval, "rounds": rounds}
    with Workspace.open("bench-timeline") as ws:
        base = min(cpu_of(ws, ["true"], None, interval) for _ in range(3))
        for case, argv in cases.items():
            off, on = [], []
            for _ in range(rounds):
                off.append(cpu_of(ws, argv, None, interval) - base)
                on.append(cpu_of(ws, argv, tl, interval) - base)
            doc = json.loads(tl.read_text())
            out[case] = {"percent_of_core_without": 100 * statistics.median(off) / seconds,
                         "percent_of_core_with": 100 * statistics.median(on) / seconds,
                         "percent_of_core_sampling": 100 * (statistics.median(on) - statistics.median(off))
                         / seconds,
                         "file_bytes": tl.stat().st_size, "samples": len(doc["samples"])}
    per_sample = out["moving"]["file_bytes"] / max(1, out["moving"]["samples"])
    ten_min = samples_in(600, interval)
    out["ten_minute_samples_moving"] = ten_min
    out["ten_minute_bytes_moving"] = round(ten_min * per_sample + 300)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--interval", type=float, default=None, help="the first (densest) interval [default]")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    from harness.runner.timeline import DEFAULT_FIRST

    interval = args.interval or DEFAULT_FIRST
    if args.inside:
        print(json.dumps(inside(args.seconds, interval, args.rounds)))
        return 0
    from harness.doctor import diagnose

    if diagnose().native_ready:
        backend, doc = "native", inside(args.seconds, interval, args.rounds)
    else:
        from harness.backends.uml import UmlGuest

        argv = [sys.executable, str(Path(__file__).resolve()), "--inside", "--seconds", str(args.seconds),
                "--interval", str(interval), "--rounds", str(args.rounds)]
        with UmlGuest(mem="1G") as guest:
            r = guest.run(argv, cwd=str(REPO), env={"PYTHONPATH": str(REPO)}, timeout=None)
        if r.returncode != 0:
            print(r.stderr.decode(errors="replace"), file=sys.stderr)
            return 1
        backend, doc = "uml", json.loads(r.stdout.decode().strip().splitlines()[-1])
    doc["backend"] = backend
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(f"backend {backend}; trials of {doc['seconds']:g} s, first interval {doc['interval']:g} s, "
          f"median of {doc['rounds']}; harness CPU in % of a core")
    for case in ("idle", "moving"):
        c = doc[case]
        print(f"{case:>7}: without a timeline {c['percent_of_core_without']:.3f}, with "
              f"{c['percent_of_core_with']:.3f} (sampling {c['percent_of_core_sampling']:+.3f}); "
              f"file {c['file_bytes']} bytes, {c['samples']} samples")
    print(f"a 10-minute trial whose memory always moves: {doc['ten_minute_samples_moving']} samples, "
          f"~{doc['ten_minute_bytes_moving']} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
