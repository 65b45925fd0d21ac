#!/usr/bin/env python3
"""The harness's own cost beside its floor and its peers, in one run.

    python scripts/bench.py [-n 20] [--json] [--save] [--quick]

On whatever real cgroup-v2 kernel the host offers (natively where `harness doctor` passes,
else inside one user-mode Linux guest) it runs each case interleaved, ``n`` rounds in a
shuffled order per round, and prints one table (median, min, spread = p90 - p10) with each
case's ratio to its floor, then the targets:

- kernel: a bare fork+exec; a trial done by hand (mkdir, limit files, spawn into the
  cgroup, read the counters, cgroup.kill, rmdir: the kernel's own cost); the harness's
  in-process trial, `harness run -- true` beside `python -c pass`, a sweep's trial
  (agent + verifier); peers where installed (skipped with the reason, never faked); how
  soon an OOM kill reaches the harness; the watcher's CPU during an idle trial;
- host: report load + analysis over 10k, 100k and 1M records and the time per record;
  start-up of `harness --help` and of the `harness run` imports beside `python -c pass`.

``--save`` writes the JSON to ``results/bench/<date>-<host>.json`` for later comparison.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TRIAL_MEMORY = 64 << 20
OOM_LIMIT = 32 << 20
REPORT_SIZES = (10_000, 100_000, 1_000_000)
REPORT_CACHE = Path(os.environ.get("HARNESS_BENCH_CACHE", "/var/tmp/harness-bench"))
TARGETS = {  # name -> (bound, unit, comparison) as the issue states them
    "trial_vs_floor": (1.2, "x", "in-process trial / by-hand trial, medians"),
    "oom_latency_ms": (10.0, "ms", "OOM kill in the kernel -> the harness has it, median"),
    "watcher_cpu_percent": (0.5, "% of a core", "harness CPU per second of an idle trial"),
    "report_1m_seconds": (5.0, "s", "load (columnar cache) + analysis of 1,000,000 records"),
    "startup_overhead_ms": (60.0, "ms", "`harness run` imports beyond `python -c pass`, medians"),
}


# -- measuring -----------------------------------------------------------------------------
def summary(samples: list[float]) -> dict[str, float]:
    """Median, min and spread (p90 - p10) of ``samples`` (seconds), in milliseconds."""
    s = sorted(samples)
    q = statistics.quantiles(s, n=10, method="inclusive") if len(s) > 1 else [s[0]] * 9
    return {"median_ms": 1000 * statistics.median(s), "min_ms": 1000 * s[0],
            "spread_ms": 1000 * (q[8] - q[0]), "n": len(s)}


def interleaved(cases: dict[str, Callable[[], object]], rounds: int, seed: int = 1) -> dict[str, list[float]]:
    """Each case once per round, in a fresh shuffled order, so drift hits every case alike."""
    rng = random.Random(seed)
    out: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for _ in range(rounds):
        rng.shuffle(names)
        for name in names:
            t0 = time.perf_counter()
            cases[name]()
            out[name].append(time.perf_counter() - t0)
    return out


def slope(points: list[tuple[int, float]]) -> dict[str, float]:
    """Least-squares seconds = a + b * records; b in microseconds per record."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    b = sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else float("nan")
    return {"us_per_record": b * 1e6, "intercept_s": my - b * mx}


# -- the kernel side (natively, or inside the guest) -------------------------------------------
def _limit_files(memory: int) -> dict[str, str]:
    """The files a harness trial writes, in its order (see harness.limits)."""
    from harness.limits import LimitSettings

    return LimitSettings(memory_guarantee_bytes=memory, memory_max_bytes=memory).files()


def by_hand_trial(parent: Path, home: Path, name: str, files: dict[str, str], argv: list[str]) -> None:
    """A trial with no harness code: what the kernel makes unavoidable.

    Python has no clone3(CLONE_INTO_CGROUP), and fork() of a Python process is costly (in
    a guest especially), so the cheapest spawn into a cgroup is: move ourselves in,
    posix_spawn (the child starts there), move ourselves back to ``home``.
    """
    path = parent / name
    os.mkdir(path)
    for f, v in files.items():
        with open(path / f, "w") as fh:
            fh.write(v)
    with open(path / "cgroup.procs", "w") as fh:
        fh.write("0")
    try:
        pid = os.posix_spawn(argv[0], argv, os.environ)
    finally:
        with open(home / "cgroup.procs", "w") as fh:
            fh.write("0")
    os.waitpid(pid, 0)
    for f in ("memory.events", "memory.peak", "cpu.stat", "pids.peak", "memory.max", "cpu.max"):
        with open(path / f) as fh:
            fh.read()
    with open(path / "cgroup.kill", "w") as fh:
        fh.write("1")
    for _ in range(100):  # EBUSY for a moment after the last process is reaped
        try:
            os.rmdir(path)
            return
        except OSError:
            time.sleep(0.001)
    os.rmdir(path)


def run_from(where: Path, home: Path, argv: list[str]) -> None:
    """Run a harness command as a user's shell would: from ``where`` (the cgroup root), not
    from our supervisor leaf, which a harness would take for a delegated scope and claim."""
    with open(where / "cgroup.procs", "w") as fh:
        fh.write("0")
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        with open(home / "cgroup.procs", "w") as fh:
            fh.write("0")
    if proc.wait() != 0:
        raise RuntimeError(f"{argv} exited {proc.returncode}")


def _trivial_suite(root: Path) -> Path:
    task = root / "suite" / "noop"
    (task / "solution").mkdir(parents=True)
    (task / "tests").mkdir()
    (task / "instruction.md").write_text("Do nothing.\n")
    (task / "task.toml").write_text('[environment]\ncpus = 1\nmemory_mb = 64\n')
    (task / "solution" / "solve.sh").write_text("#!/bin/sh\ntrue\n")
    (task / "tests" / "test.sh").write_text("#!/bin/sh\nexit 0\n")
    return root / "suite"


def peers(rounds: int) -> tuple[dict[str, Callable[[], object]], dict[str, str]]:
    """The tools users would otherwise pick, where they are installed and usable here."""
    cases: dict[str, Callable[[], object]] = {}
    skipped: dict[str, str] = {}
    pid1 = Path("/proc/1/comm").read_text().strip() if Path("/proc/1/comm").exists() else "?"
    if shutil.which("systemd-run") is None:
        skipped["systemd-run --scope"] = "systemd-run is not installed"
    elif pid1 != "systemd":
        skipped["systemd-run --scope"] = f"systemd is not PID 1 here (PID 1 is {pid1})"
    else:
        cases["peer: systemd-run --scope -p MemoryMax true"] = lambda: subprocess.run(
            ["systemd-run", "--quiet", "--scope", "-p", f"MemoryMax={TRIAL_MEMORY}", "true"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    image = os.environ.get("HARNESS_BENCH_IMAGE")
    if shutil.which("podman") is None:
        skipped["podman run/exec"] = "podman is not installed"
    elif not image:
        skipped["podman run/exec"] = "no image to run: set HARNESS_BENCH_IMAGE to a local image"
    else:
        cases["peer: podman run --rm true"] = lambda: subprocess.run(
            ["podman", "run", "--rm", "--network", "none", image, "true"], check=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if shutil.which("crun") is None:
        skipped["crun run"] = "crun is not installed"
    elif "HARNESS_BENCH_BUNDLE" not in os.environ:
        skipped["crun run"] = "no OCI bundle: set HARNESS_BENCH_BUNDLE to a bundle whose process is `true`"
    else:
        bundle = os.environ["HARNESS_BENCH_BUNDLE"]
        cases["peer: crun run"] = lambda: subprocess.run(
            ["crun", "run", "--bundle", bundle, f"bench-{time.monotonic_ns()}"], check=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runexec = shutil.which("runexec")
    if runexec is None:
        skipped["BenchExec runexec"] = "BenchExec is not installed (pip install benchexec)"
    else:
        cases["peer: runexec --memlimit true"] = lambda: subprocess.run(
            [runexec, "--quiet", "--memlimit", str(TRIAL_MEMORY), "--no-container", "--", "true"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for name, fn in list(cases.items()):  # a peer that fails here is skipped, with its error
        try:
            fn()
        except (subprocess.CalledProcessError, OSError) as e:
            skipped[name] = f"failed on this host: {e}"
            del cases[name]
    return cases, skipped


def oom_latency(ws: Any, rounds: int) -> dict[str, Any]:
    """From the kernel's OOM kill to the harness's watcher having it.

    The kill's time comes from the kernel log (/dev/kmsg stamps each line in µs of the
    kernel's clock), put on CLOCK_MONOTONIC by a marker line written just before each
    trial. The workload's own last timestamp, just before the fatal allocation, gives an
    upper bound that includes the page faults up to the limit.
    """
    from harness.limits import LimitSettings
    from harness.runner.trial import RunSpec, run_trial

    if not os.access("/dev/kmsg", os.R_OK | os.W_OK):
        return {"skipped": "/dev/kmsg is not readable and writable here (root needed)"}
    stamp = Path(tempfile.mkdtemp(prefix="bench-oom-", dir="/var/tmp")) / "t"
    code = (f"import time; open({str(stamp)!r}, 'w').write(repr(time.monotonic())); "
            f"b = bytearray({2 * OOM_LIMIT})")
    latencies, upper = [], []
    for i in range(rounds):
        seen: list[float] = []
        on_event = seen_at(seen)
        kmsg = os.open("/dev/kmsg", os.O_RDWR | os.O_NONBLOCK)
        try:
            os.lseek(kmsg, 0, os.SEEK_END)
            marker = f"harness-bench-{os.getpid()}-{i}"
            mono_at_write = time.monotonic()
            os.write(kmsg, marker.encode())
            spec = RunSpec(command=[sys.executable, "-S", "-c", code],
                           limits=LimitSettings(memory_guarantee_bytes=OOM_LIMIT // 2,
                                                memory_max_bytes=OOM_LIMIT),
                           name="bench-oom", on_event=on_event)
            rec = run_trial(ws, spec)
            lines = _drain(kmsg)
        finally:
            os.close(kmsg)
        if rec.oom_kill_source != "limit" or not seen:
            return {"skipped": f"the OOM workload was not killed by its limit ({rec.outcome}, {rec.error})"}
        mark = next((ts for ts, msg in lines if msg == marker), None)
        kill = next((ts for ts, msg in lines if "Killed process" in msg), None)
        if mark is None or kill is None:
            return {"skipped": "the kernel log has no marker or no 'Killed process' line"}
        kill_mono = mono_at_write + (kill - mark)
        latencies.append(seen[0] - kill_mono)
        upper.append(seen[0] - float(stamp.read_text()))
    shutil.rmtree(stamp.parent, ignore_errors=True)
    return {"from_kernel_kill": summary(latencies), "from_workload_stamp": summary(upper)}


def seen_at(seen: list[float]) -> Callable[[str, dict[str, int]], None]:
    """An on_event callback that notes when the harness had the event."""
    return lambda kind, events: seen.append(time.monotonic())


def _drain(fd: int) -> list[tuple[float, str]]:
    """(seconds on the kernel's clock, message) of every /dev/kmsg record not yet read."""
    out: list[tuple[float, str]] = []
    while True:
        try:
            raw = os.read(fd, 8192)
        except BlockingIOError:
            return out
        except OSError:  # EPIPE: records were overwritten; skip them
            continue
        head, _, msg = raw.decode(errors="replace").partition(";")
        fields = head.split(",")
        if len(fields) >= 3:
            out.append((int(fields[2]) / 1e6, msg.split("\n", 1)[0].strip()))


def watcher_cpu(ws: Any, seconds: float) -> dict[str, float]:
    """The harness process's CPU per second while a trial sits idle (`sleep`), beyond the
    cost of starting and ending a trial (a trial of `true`)."""
    from harness.limits import LimitSettings
    from harness.runner.trial import RunSpec, run_trial

    def cpu_of(argv: list[str]) -> float:
        t = os.times()
        limits = LimitSettings(memory_max_bytes=TRIAL_MEMORY)
        run_trial(ws, RunSpec(command=argv, limits=limits, name="bench-cpu"))
        u = os.times()
        return (u.user - t.user) + (u.system - t.system)

    base = min(cpu_of(["true"]) for _ in range(3))
    idle = cpu_of(["sleep", f"{seconds:g}"])
    return {"seconds": seconds, "cpu_seconds": idle, "base_cpu_seconds": base,
            "percent_of_core": max(0.0, idle - base) / seconds * 100}


def kernel_side(rounds: int, sweep_k: int, idle_seconds: float) -> dict[str, Any]:
    from harness.cgroup.workspace import Workspace
    from harness.limits import LimitSettings
    from harness.runner.trial import RunSpec, run_trial

    py = sys.executable
    true = shutil.which("true") or "/bin/true"
    sh = "/bin/sh"
    files = _limit_files(TRIAL_MEMORY)
    scratch = Path(tempfile.mkdtemp(prefix="bench-", dir="/var/tmp"))
    suite = _trivial_suite(scratch)
    counter = iter(range(1 << 30))
    doc: dict[str, Any] = {}
    with Workspace.open("bench") as ws:
        spec = RunSpec(command=[true], limits=LimitSettings(memory_guarantee_bytes=TRIAL_MEMORY,
                                                            memory_max_bytes=TRIAL_MEMORY))

        def sweep() -> None:
            out = scratch / f"sweep-{next(counter)}"
            run_from(ws.location.mount, ws.supervisor.path,
                     [py, "-m", "harness", "sweep", str(suite), "--out", str(out), "--profiles", "1x",
                      "--repeats", str(sweep_k), "--seed", "1", "--backend", "native"])
            shutil.rmtree(out)

        cases: dict[str, Callable[[], object]] = {
            "floor: fork+exec of `true`": lambda: os.waitpid(os.posix_spawn(true, [true], os.environ), 0),
            "floor: trial of `true` by hand": lambda: by_hand_trial(
                ws.session.path, ws.supervisor.path, f"hand-{next(counter)}", files, [true]),
            "floor: trial by hand, spawned through sh": lambda: by_hand_trial(
                ws.session.path, ws.supervisor.path, f"hand-{next(counter)}", files, [sh, "-c", "exec true"]),
            "harness: in-process trial of `true`": lambda: run_trial(ws, spec),
            "floor: `python -c pass`": lambda: run_from(ws.location.mount, ws.supervisor.path,
                                                        [py, "-c", "pass"]),
            "harness: `harness run -- true` (CLI)": lambda: run_from(
                ws.location.mount, ws.supervisor.path,
                [py, "-m", "harness", "run", "--backend", "native", "--memory", "64M", "--", true]),
        }
        peer_cases, skipped = peers(rounds)
        cases.update(peer_cases)
        samples = interleaved(cases, rounds)
        sweep_rounds = max(2, rounds // 5)
        sweep_samples = [s / sweep_k for s in interleaved({"s": sweep}, sweep_rounds)["s"]]
        samples[f"harness: sweep trial, agent + verifier (per trial of {sweep_k})"] = sweep_samples
        doc["cases"] = {name: summary(v) for name, v in samples.items()}
        doc["skipped"] = skipped
        doc["oom_latency"] = oom_latency(ws, max(3, rounds // 2))
        doc["watcher_cpu"] = watcher_cpu(ws, idle_seconds)
    shutil.rmtree(scratch, ignore_errors=True)
    return doc


# -- the host side ---------------------------------------------------------------------------
def report_side(sizes: tuple[int, ...], rounds: int) -> dict[str, Any]:
    """Load + analysis of generated result directories of ``sizes`` records (cached)."""
    sys.path.insert(0, str(REPO / "scripts"))
    from bench_report import write

    from harness.report import column_cache
    from harness.report.build import build_report
    from harness.report.load import load_dirs
    from harness.schema.record import SCHEMA_VERSION as RECORD_VERSION

    rows, points = {}, []
    for n in sizes:
        tasks = 100 if n <= 10_000 else 500
        repeats = max(1, n // (tasks * 6))
        d = REPORT_CACHE / f"report-v{RECORD_VERSION}-{tasks}x{repeats}"
        if not (d / "trials.jsonl").exists():
            print(f"bench: generating {tasks * 6 * repeats:,} records in {d} (cached for next time)",
                  file=sys.stderr)
            part = d.with_name(d.name + ".part")
            shutil.rmtree(part, ignore_errors=True)
            part.mkdir(parents=True)
            write(part, tasks, repeats)
            part.rename(d)
        trials = d / "trials.jsonl"
        cold_t, load_t, build_t = [], [], []
        for _ in range(1 if n >= 1_000_000 else rounds):
            (d / column_cache.CACHE_FILE).unlink(missing_ok=True)
            t0 = time.perf_counter()
            load_dirs([d])  # parses the JSON and writes the columnar cache
            cold_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            sweep = load_dirs([d])  # from the cache, as every later report of this sweep
            t1 = time.perf_counter()
            build_report(sweep)
            load_t.append(t1 - t0)
            build_t.append(time.perf_counter() - t1)
        total = [a + b for a, b in zip(load_t, build_t, strict=True)]
        records = tasks * 6 * repeats
        rows[f"{records:,} records"] = {"records": records, "bytes": trials.stat().st_size,
                                        "first_load": summary(cold_t), "load": summary(load_t),
                                        "analysis": summary(build_t), "total": summary(total)}
        points.append((records, statistics.median(total)))
    return {"sizes": rows, "fit": slope(points) if len(points) > 1 else None}


def startup_side(rounds: int) -> dict[str, Any]:
    py = sys.executable
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def run(argv: list[str]) -> Callable[[], object]:
        return lambda: subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL)

    samples = interleaved({
        "floor: `python -c pass`": run([py, "-c", "pass"]),
        "`harness --help`": run([py, "-m", "harness", "--help"]),
        "`harness run` imports": run([py, "-c", "import harness.cli.run_cmd, harness.runner.trial"]),
    }, rounds)
    return {name: summary(v) for name, v in samples.items()}


# -- the whole run -----------------------------------------------------------------------------
def targets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    k = doc["kernel"]["cases"]
    observed: dict[str, float | None] = {
        "trial_vs_floor": k["harness: in-process trial of `true`"]["median_ms"]
        / k["floor: trial of `true` by hand"]["median_ms"],
        "oom_latency_ms": doc["kernel"]["oom_latency"].get("from_kernel_kill", {}).get("median_ms"),
        "watcher_cpu_percent": doc["kernel"]["watcher_cpu"]["percent_of_core"],
        "report_1m_seconds": next((r["total"]["median_ms"] / 1000 for r in doc["report"]["sizes"].values()
                                   if r["records"] >= 900_000), None),
        "startup_overhead_ms": doc["startup"]["`harness run` imports"]["median_ms"]
        - doc["startup"]["floor: `python -c pass`"]["median_ms"],
    }
    out = []
    for name, (bound, unit, what) in TARGETS.items():
        v = observed[name]
        out.append({"name": name, "what": what, "target": bound, "unit": unit, "observed": v,
                    "met": None if v is None else v <= bound})
    return out


def render(doc: dict[str, Any]) -> str:
    from tabulate import tabulate

    k = doc["kernel"]
    floors = {"kernel": k["cases"]["floor: trial of `true` by hand"]["median_ms"],
              "python": k["cases"]["floor: `python -c pass`"]["median_ms"]}
    rows = []
    for name, s in k["cases"].items():
        base = floors["python"] if "CLI" in name or "python" in name else floors["kernel"]
        rows.append([name, f"{s['median_ms']:.2f}", f"{s['min_ms']:.2f}", f"{s['spread_ms']:.2f}", s["n"],
                     f"{s['median_ms'] / base:.2f}x"])
    lines = [f"machine: {doc['machine']}", f"kernel cases ran on: {doc['backend']}", "",
             tabulate(rows, ["case", "median ms", "min ms", "p90-p10 ms", "n", "vs floor"]), ""]
    for name, why in k["skipped"].items():
        lines.append(f"skipped {name}: {why}")
    o = k["oom_latency"]
    if "skipped" in o:
        lines.append(f"OOM latency: skipped ({o['skipped']})")
    else:
        k_ = o["from_kernel_kill"]
        lines.append(f"OOM latency: kernel kill -> harness {k_['median_ms']:.2f} ms median "
                     f"(min {k_['min_ms']:.2f}, n={k_['n']}); "
                     f"workload's last stamp -> harness {o['from_workload_stamp']['median_ms']:.1f} ms")
    w = k["watcher_cpu"]
    lines.append(f"watcher CPU: {w['percent_of_core']:.3f} % of a core over a {w['seconds']:g} s idle trial")
    lines.append("")
    rrows = [[name, f"{r['first_load']['median_ms'] / 1000:.2f}", f"{r['load']['median_ms'] / 1000:.2f}",
              f"{r['analysis']['median_ms'] / 1000:.2f}", f"{r['total']['median_ms'] / 1000:.2f}"]
             for name, r in doc["report"]["sizes"].items()]
    lines.append(tabulate(rrows, ["report over", "first load (JSON) s", "load (cache) s", "analysis s",
                                  "total s"]))
    if doc["report"]["fit"]:
        f = doc["report"]["fit"]
        lines.append(f"report time grows {f['us_per_record']:.2f} µs per record (+ {f['intercept_s']:.2f} s)")
    lines.append("")
    srows = [[name, f"{s['median_ms']:.1f}", f"{s['min_ms']:.1f}", f"{s['spread_ms']:.1f}"]
             for name, s in doc["startup"].items()]
    lines.append(tabulate(srows, ["start-up (host)", "median ms", "min ms", "p90-p10 ms"]))
    lines.append("")
    trows = [[t["name"], f"≤ {t['target']:g} {t['unit']}",
              "n/a" if t["observed"] is None else f"{t['observed']:.3g}",
              {True: "met", False: "MISSED", None: "not measured"}[t["met"]]] for t in doc["targets"]]
    lines.append(tabulate(trows, ["target", "bound", "observed", ""]))
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("-n", "--rounds", type=int, default=20, help="rounds of each kernel case")
    ap.add_argument("--sweep-k", type=int, default=10, help="trials per sweep in the sweep case")
    ap.add_argument("--idle-seconds", type=float, default=10.0, help="length of the idle trial")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 3 rounds, no 1M-record report")
    ap.add_argument("--json", action="store_true", help="print the JSON document instead of the table")
    ap.add_argument("--save", action="store_true", help="also write results/bench/<date>-<host>.json")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.sweep_k, args.idle_seconds = 3, 3, 2.0
    if args.rounds < 2:
        ap.error("--rounds must be at least 2")
    if args.inside:
        print(json.dumps(kernel_side(args.rounds, args.sweep_k, args.idle_seconds)))
        return 0

    from harness.doctor import diagnose
    from harness.results.host import host_metadata

    started = time.perf_counter()
    d = diagnose()
    inside = [sys.executable, str(Path(__file__).resolve()), "--inside", "-n", str(args.rounds),
              "--sweep-k", str(args.sweep_k), "--idle-seconds", str(args.idle_seconds)]
    print("bench: kernel cases ...", file=sys.stderr)
    if d.native_ready:
        backend, kernel = "native", kernel_side(args.rounds, args.sweep_k, args.idle_seconds)
    else:
        from harness.backends.uml import UmlGuest

        with UmlGuest(mem="2G") as guest:
            r = guest.run(inside, cwd=str(REPO), env={"PYTHONPATH": str(REPO)})
        if r.returncode != 0:
            sys.stderr.write(r.stderr.decode(errors="replace"))
            print("bench: the kernel cases failed in the user-mode Linux guest", file=sys.stderr)
            return 1
        backend, kernel = "uml (user-mode Linux 6.1 guest, 1 CPU)", json.loads(r.stdout)
    print("bench: report and start-up cases ...", file=sys.stderr)
    sizes = REPORT_SIZES[:2] if args.quick else REPORT_SIZES
    host = dataclasses.asdict(host_metadata("native" if d.native_ready else "uml"))
    doc: dict[str, Any] = {
        "schema": 1, "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{host.get('cpu_model')} ({host.get('cores')} CPUs), "
                   f"{(host.get('memory_bytes') or 0) / 2**30:.0f} GiB, kernel {host.get('kernel')}",
        "host": host, "backend": backend, "rounds": args.rounds, "kernel": kernel,
        "report": report_side(sizes, 3), "startup": startup_side(args.rounds),
    }
    doc["targets"] = targets(doc)
    doc["wall_seconds"] = time.perf_counter() - started
    text = json.dumps(doc, indent=2)
    print(text if args.json else render(doc))
    if args.save:
        out = REPO / "results" / "bench" / f"{doc['date'][:10]}-{host.get('hostname', 'host')}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
        print(f"bench: wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
