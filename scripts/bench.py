#!/usr/bin/env python3
"""The harness's own cost beside its floor and its peers, in one run.

    python scripts/bench.py [-n 20] [--json] [--save] [--quick] [--no-peers]

On whatever real cgroup-v2 kernel the host offers (natively where `harness doctor` passes,
else inside one user-mode Linux guest) it runs each case interleaved, ``n`` rounds in a
shuffled order per round, and prints one table (median, min, spread = p90 - p10) with each
case's ratio to its floor, then the targets:

- kernel: a bare fork+exec; a trial done by hand (mkdir, limit files, spawn into the
  cgroup, read the counters, cgroup.kill, rmdir: the kernel's own cost), and the same
  spawned through `sh` (one more exec: what a trampoline costs); the harness's
  in-process trial (started by its spawn server), `harness run -- true` beside
  `python -c pass`, a sweep's trial (agent + verifier); peers (systemd-run, podman
  run/exec and crun run over the podman store the container tests build, BenchExec's
  runexec), each skipped with the reason
  when absent or failing, never faked; the podman environment's per-trial steps; how
  soon an OOM kill reaches the harness; the watcher's CPU with and without timelines;
- host: report load + analysis over 10k, 100k and 1M records and the time per record;
  start-up of `harness --help` and of the `harness run` imports beside `python -c pass`.

``--save`` writes the JSON (with the load average) to ``results/bench/<date>-<host>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
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
sys.path.insert(0, str(REPO))  # measure this checkout, not whichever harness is installed
TRIAL_MEMORY = 64 << 20
OOM_LIMIT = 32 << 20
REPORT_SIZES = (10_000, 100_000, 1_000_000)
DEFAULT_BENCHEXEC = "/var/tmp/benchexec-pkg"
REPORT_CACHE = Path(os.environ.get("HARNESS_BENCH_CACHE", "/var/tmp/harness-bench"))
TARGETS = {  # name -> (bound, unit, comparison) as the issue states them
    "trial_vs_floor": (1.2, "x", "in-process trial / by-hand trial, medians"),
    "oom_latency_ms": (10.0, "ms", "OOM kill in the kernel -> the harness has it, median"),
    "watcher_cpu_percent": (0.5, "% of a core", "harness CPU per second of a trial, worst of idle/moving "
                                                "memory x with/without timeline"),
    "report_1m_seconds": (5.0, "s", "load (columnar cache) + analysis + text of 1,000,000 records"),
    "startup_overhead_ms": (60.0, "ms", "`harness run` imports beyond `python -c pass`, medians"),
}


# -- measuring -----------------------------------------------------------------------------
def summary(samples: list[float]) -> dict[str, float]:
    """Median, min and spread (p90 - p10) of ``samples`` (seconds), in milliseconds."""
    s = sorted(samples)
    q = statistics.quantiles(s, n=10, method="inclusive") if len(s) > 1 else [s[0]] * 9
    return {"median_ms": 1000 * statistics.median(s), "min_ms": 1000 * s[0],
            "spread_ms": 1000 * (q[8] - q[0]), "n": len(s)}


def interleaved(cases: dict[str, Callable[[], object]], rounds: int, seed: int = 1,
                times: dict[str, int] | None = None) -> dict[str, list[float]]:
    """Each case once per round (``times[name]`` times for cheap ones, whose noise needs more
    samples), in a fresh shuffled order, so drift hits every case alike."""
    rng = random.Random(seed)
    out: dict[str, list[float]] = {name: [] for name in cases}
    names = [name for name in cases for _ in range((times or {}).get(name, 1))]
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


def _quiet(argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv``; CalledProcessError (with its stderr) if it fails."""
    return subprocess.run(argv, check=True, capture_output=True)


def _last_error(out: bytes) -> str:
    """A tool's own last error line (else its last line) in ``out``."""
    lines = [ln.strip() for ln in out.decode(errors="replace").splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower() or "critical" in ln.lower()]
    return (errors or lines or [""])[-1]


def _why(e: Exception) -> str:
    """A failed peer's reason: its own last error line where it printed one."""
    last = _last_error(getattr(e, "stderr", None) or getattr(e, "stdout", None) or b"")
    return f"{e}: {last}" if last else str(e)


def peers(stack: contextlib.ExitStack, scratch: Path, podman: bool,
          benchexec: str | None) -> tuple[dict[str, Callable[[], object]], dict[str, str]]:
    """The tools users would otherwise pick, where they are installed and usable here; each is
    tried once before the clock starts and skipped with its own error if it fails."""
    from harness.errors import HarnessError

    cases: dict[str, Callable[[], object]] = {}
    skipped: dict[str, str] = {}
    pid1 = Path("/proc/1/comm").read_text().strip() if Path("/proc/1/comm").exists() else "?"
    if shutil.which("systemd-run") is None:
        skipped["systemd-run --scope"] = "systemd-run is not installed"
    elif pid1 != "systemd":
        skipped["systemd-run --scope"] = f"systemd is not PID 1 here (PID 1 is {pid1})"
    else:
        cases["peer: systemd-run --scope -p MemoryMax true"] = lambda: _quiet(
            ["systemd-run", "--quiet", "--scope", "-p", f"MemoryMax={TRIAL_MEMORY}", "true"])
    if podman:
        try:
            cases.update(container_peers(stack, scratch, skipped))
        except (subprocess.CalledProcessError, OSError, HarnessError) as e:
            skipped["podman run/exec, crun run"] = f"podman failed here: {_why(e)}"
    runexec = _runexec(benchexec)
    if isinstance(runexec, str):
        skipped["BenchExec runexec"] = runexec
    else:
        try:
            cases["peer: BenchExec runexec --memlimit true"] = _runexec_case(stack, runexec)
        except OSError as e:
            skipped["BenchExec runexec"] = f"cannot prepare the /benchexec cgroup it needs: {e}"
    for name, fn in list(cases.items()):
        try:
            fn()
        except (subprocess.CalledProcessError, OSError, RuntimeError) as e:
            skipped[name] = f"failed here: {_why(e)}"
            del cases[name]
    return cases, skipped


def container_peers(stack: contextlib.ExitStack, scratch: Path,
                    skipped: dict[str, str]) -> dict[str, Callable[[], object]]:
    """`podman run --rm`, `podman exec` and `crun run` of `true` in the podman store the
    harness's container tests use (the guest's first disk), with a 64 MiB limit."""
    from harness.environments.podman_cli import Podman
    from harness.environments.uml_store import BASE_IMAGE

    pm = Podman.find()
    name = f"harness-bench-peer-{os.getpid()}"
    _quiet(pm.argv(["run", "--detach", "--name", name, "--network", "none", "--entrypoint", "sleep",
                    BASE_IMAGE, "infinity"]))
    stack.callback(lambda: subprocess.run(pm.argv(["rm", "--force", "--time", "0", name]),
                                          capture_output=True))
    cases: dict[str, Callable[[], object]] = {
        "peer: podman run --rm --memory 64m true": lambda: _quiet(pm.argv(
            ["run", "--rm", "--network", "none", "--memory", str(TRIAL_MEMORY), BASE_IMAGE, "true"])),
        "peer: podman exec (running container) true": lambda: _quiet(pm.argv(["exec", name, "true"])),
    }
    crun = shutil.which("crun")
    if crun is None:
        skipped["crun run"] = "crun is not installed"
        return cases
    try:
        rootfs = _quiet(pm.argv(["image", "mount", BASE_IMAGE])).stdout.decode().strip()
        stack.callback(lambda: subprocess.run(pm.argv(["image", "unmount", BASE_IMAGE]), capture_output=True))
        bundle = scratch / "bundle"
        bundle.mkdir()
        _quiet([crun, "spec", "--bundle", str(bundle)])
        spec = json.loads((bundle / "config.json").read_text())
        spec["root"] = {"path": rootfs, "readonly": True}
        spec["process"].update(args=["/bin/true"], terminal=False)
        spec["linux"].setdefault("resources", {})["memory"] = {"limit": TRIAL_MEMORY}
        (bundle / "config.json").write_text(json.dumps(spec))
        ids = iter(range(1 << 30))
        cases["peer: crun run (OCI bundle of the same image) true"] = lambda: _quiet(
            [crun, "run", "--bundle", str(bundle), f"harness-bench-{os.getpid()}-{next(ids)}"])
    except (subprocess.CalledProcessError, OSError) as e:
        skipped["crun run"] = f"cannot make an OCI bundle of the image here: {_why(e)}"
    return cases


def _runexec(benchexec: str | None) -> list[str] | str:
    """The argv that starts BenchExec's runexec, or why there is none."""
    found = shutil.which("runexec")
    if found:
        return [found]
    if benchexec and (Path(benchexec) / "bin" / "runexec").exists():
        return [sys.executable, str(Path(benchexec) / "bin" / "runexec")]
    return ("BenchExec is not installed (pip install --target /var/tmp/benchexec-pkg benchexec, then "
            "--benchexec /var/tmp/benchexec-pkg)")


def _runexec_case(stack: contextlib.ExitStack, argv: list[str]) -> Callable[[], object]:
    """runexec, as root without systemd: in the /benchexec cgroup it looks for (its fallback)."""
    root = Path("/sys/fs/cgroup")
    home = root / "benchexec"
    ours = not home.exists()
    home.mkdir(exist_ok=True)
    for c in ("cpu", "memory", "pids"):
        for where in (root, home):
            with contextlib.suppress(OSError), open(where / "cgroup.subtree_control", "w") as fh:
                fh.write(f"+{c}")

    def clean() -> None:  # runexec leaves a cgroup per run behind (it cannot remove its own)
        from harness.cgroup.group import Cgroup
        from harness.errors import HarnessError

        for child in Cgroup(home).children():
            with contextlib.suppress(HarnessError):
                child.remove()
        if ours:
            with contextlib.suppress(HarnessError):
                Cgroup(home).remove()
    stack.callback(clean)
    env = dict(os.environ)
    if len(argv) > 1:  # [python, DIR/bin/runexec]: its package is in DIR
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(argv[1]).parent.parent),
                                                          env.get("PYTHONPATH")]))
    out = Path(tempfile.mkdtemp(prefix="bench-runexec-", dir="/var/tmp"))
    stack.callback(lambda: shutil.rmtree(out, ignore_errors=True))

    def run() -> None:
        r = subprocess.run([*argv, "--memlimit", str(TRIAL_MEMORY), "--no-container", "--output",
                            str(out / "output.log"), "--", "/bin/true"],
                           capture_output=True, env=env, cwd=out)
        if r.returncode != 0 or b"terminationreason=failed" in r.stdout or b"returnvalue=0" not in r.stdout:
            why = _last_error(r.stderr or r.stdout)
            if ".pressure" in why and not Path("/proc/pressure").exists():
                why += " (this kernel has no pressure stall information: /proc/pressure is absent)"
            reason = ", terminationreason=failed" if b"terminationreason=failed" in r.stdout else ""
            raise RuntimeError(f"runexec exited {r.returncode}{reason}: {why}")
    return run


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


# Memory that never stays flat: a sawtooth, 2 MiB more every 0.1 s up to 40 MiB, then freed,
# so every interval sees it move and the sampling stays as dense as the policy allows.
MOVING = ("import time\nend = time.monotonic() + {s}\nblocks = []\nwhile time.monotonic() < end:\n"
          "    b = bytearray(2 << 20); b[::4096] = b'x' * len(b[::4096]); blocks.append(b)\n"
          "    blocks = [] if len(blocks) >= 20 else blocks\n    time.sleep(0.1)\n")


def watcher_cpu(ws: Any, seconds: float, rounds: int) -> dict[str, Any]:
    """The harness process's CPU per second of a trial, beyond the cost of starting and
    ending one (a trial of `true`): idle (`sleep`) and with memory always moving, each
    without and with the per-trial timeline (sampling at the default policy); the four
    interleaved, median of ``rounds``."""
    from harness.limits import LimitSettings
    from harness.runner.timeline import SamplePolicy
    from harness.runner.trial import RunSpec, run_trial

    scratch = Path(tempfile.mkdtemp(prefix="bench-watch-", dir="/var/tmp"))
    timeline = scratch / "timeline.json"
    cpu: dict[str, list[float]] = {}

    def cpu_of(argv: list[str], sampled: bool) -> float:
        t = time.process_time()  # every thread of ours (the watcher's too), in ns, not clock ticks
        run_trial(ws, RunSpec(command=argv, limits=LimitSettings(memory_max_bytes=TRIAL_MEMORY),
                              name="bench-cpu", timeline=timeline if sampled else None,
                              sampling=SamplePolicy()))
        return time.process_time() - t

    base = min(cpu_of(["true"], False) for _ in range(3))
    workloads = {"idle": ["sleep", f"{seconds:g}"],
                 "moving": [sys.executable, "-S", "-c", MOVING.format(s=seconds)]}
    files: dict[str, dict[str, int]] = {}
    cases: dict[str, Callable[[], object]] = {}
    for load, argv in workloads.items():
        for sampled in (False, True):
            key = f"{load}, {'with' if sampled else 'without'} timeline"
            cpu[key] = []

            def case(argv: list[str] = argv, sampled: bool = sampled, key: str = key,
                     load: str = load) -> None:
                cpu[key].append(cpu_of(argv, sampled))
                if sampled:
                    files[load] = {"bytes": timeline.stat().st_size,
                                   "samples": len(json.loads(timeline.read_text())["samples"])}
            cases[key] = case
    interleaved(cases, rounds)
    shutil.rmtree(scratch, ignore_errors=True)
    percent = {k: max(0.0, statistics.median(v) - base) / seconds * 100 for k, v in cpu.items()}
    return {"seconds": seconds, "rounds": rounds, "base_cpu_seconds": base, "percent_of_core": percent,
            "timeline_files": files, "cpu_seconds": cpu}


CHEAP_TIMES = 5  # samples per round of the cases of a few ms, whose spread in a guest is as large
HAND = "floor: trial of `true` by hand"
HAND_SH = "reference: the same, spawned through `sh` (one more exec)"
IN_PROCESS = "harness: in-process trial of `true` (as a sweep's, by the spawn server)"
PYTHON = "floor: `python -c pass`"
CLI = "harness: `harness run -- true` (CLI)"


def podman_trial_steps(rounds: int) -> dict[str, Any]:
    """What the harness's podman environment pays per trial beyond the workload: a container
    started in a cgroup, two execs (agent, verifier), two copies (solution, tests), its removal."""
    from harness.environments.podman_cli import Podman
    from harness.environments.uml_store import BASE_IMAGE

    pm = Podman.find()
    cg = Path("/sys/fs/cgroup/harness-bench-podman")
    cg.mkdir(exist_ok=True)
    tests = Path(tempfile.mkdtemp(prefix="bench-tests-", dir="/var/tmp"))
    (tests / "test.sh").write_text("#!/bin/bash\necho 1 > /logs/verifier/reward.txt\n")
    steps: dict[str, list[float]] = {k: [] for k in ("run -d", "exec", "cp", "rm -f")}

    def timed(step: str, args: list[str]) -> None:
        t0 = time.perf_counter()
        _quiet(pm.argv(args))
        steps[step].append(time.perf_counter() - t0)
    try:
        for i in range(rounds):
            name = f"harness-bench-{os.getpid()}-{i}"
            timed("run -d", ["run", "--detach", "--name", name, "--network", "none", "--cgroup-parent",
                             "/" + cg.name, "--cgroups", "no-conmon", "--entrypoint", "sleep", BASE_IMAGE,
                             "infinity"])
            timed("exec", ["exec", name, "true"])
            timed("cp", ["cp", f"{tests}/.", f"{name}:/tests"])
            timed("rm -f", ["rm", "--force", "--time", "0", name])
    finally:
        from harness.cgroup.group import Cgroup
        from harness.errors import HarnessError

        shutil.rmtree(tests, ignore_errors=True)
        with contextlib.suppress(HarnessError):
            Cgroup(cg).remove()
    med = {k: statistics.median(v) for k, v in steps.items()}
    per_trial = med["run -d"] + 2 * med["exec"] + 2 * med["cp"] + med["rm -f"]
    return {"steps": {k: summary(v) for k, v in steps.items()}, "per_trial_ms": 1000 * per_trial}


def kernel_side(rounds: int, sweep_k: int, idle_seconds: float, podman: bool,
                benchexec: str | None) -> dict[str, Any]:
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
    with Workspace.open("bench") as ws, contextlib.ExitStack() as stack:
        ws.start_spawner()  # as a sweep does: its trials start through the spawn server
        session, home = ws.session.path, ws.supervisor.path
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
            HAND: lambda: by_hand_trial(session, home, f"hand-{next(counter)}", files, [true]),
            HAND_SH: lambda: by_hand_trial(session, home, f"hand-{next(counter)}", files,
                                           [sh, "-c", "exec true"]),
            IN_PROCESS: lambda: run_trial(ws, spec),
            PYTHON: lambda: run_from(ws.location.mount, ws.supervisor.path, [py, "-c", "pass"]),
            CLI: lambda: run_from(ws.location.mount, ws.supervisor.path,
                                  [py, "-m", "harness", "run", "--backend", "native", "--memory", "64M", "--",
                                   true]),
        }
        peer_cases, skipped = peers(stack, scratch, podman, benchexec)
        cases.update(peer_cases)
        cheap = {name: CHEAP_TIMES for name in ("floor: fork+exec of `true`", HAND, HAND_SH, IN_PROCESS)}
        samples = interleaved(cases, rounds, times=cheap)
        few = max(2, rounds // 5)
        sweep_samples = [s / sweep_k for s in interleaved({"s": sweep}, few)["s"]]
        samples[f"harness: sweep trial, agent + verifier (per trial of {sweep_k})"] = sweep_samples
        doc["cases"] = {name: summary(v) for name, v in samples.items()}
        doc["skipped"] = skipped
        if podman:
            try:
                doc["podman_trial"] = podman_trial_steps(few)
            except subprocess.CalledProcessError as e:
                skipped["podman environment's trial steps"] = f"failed here: {_why(e)}"
        doc["oom_latency"] = oom_latency(ws, max(3, rounds // 2))
        doc["watcher_cpu"] = watcher_cpu(ws, idle_seconds, 2)
    shutil.rmtree(scratch, ignore_errors=True)
    return doc


# -- the host side ---------------------------------------------------------------------------
REPORT_PROFILES: list[tuple[str, float | None]] = [
    ("1x", 1.0), ("1.5x", 1.5), ("2x", 2.0), ("3x", 3.0), ("5x", 5.0), ("uncapped", None)]


def _record_template() -> dict[str, object]:
    """A sweep record of the size and shape of a real one (~1.9 KB: the agent's RunRecord
    fields, the sweep's fields, the verifier's record nested)."""
    from harness.schema.record import RunRecord

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


def write_result_dir(out: Path, n_tasks: int, repeats: int, seed: int = 1) -> int:
    """A result directory of ``n_tasks`` x 6 profiles x ``repeats`` synthetic trials, with
    task-level ability and OOM-proneness, as a report reads it; returns the record count."""
    import numpy as np

    from harness.results.store import MANIFEST_FILE, TRIALS_FILE, write_json_atomic
    from tests.helpers_results import manifest  # a manifest built through the schema

    rng = np.random.default_rng(seed)
    ability = rng.beta(1.2, 1.2, n_tasks)
    oom_prone = rng.random(n_tasks) < 0.15
    tmpl = _record_template()
    tasks = [f"task-{i:04d}" for i in range(n_tasks)]
    write_json_atomic(out / MANIFEST_FILE, manifest(tasks, REPORT_PROFILES, sweep_id="bench-1", seed=seed,
                                                    repeats=repeats))
    n = 0
    t0 = 1795824000.0
    with open(out / TRIALS_FILE, "w") as f:
        for i, task in enumerate(tasks):
            for name, mult in REPORT_PROFILES:
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


def report_side(sizes: tuple[int, ...], rounds: int) -> dict[str, Any]:
    """Load + analysis of generated result directories of ``sizes`` records (cached)."""
    from harness.report import column_cache
    from harness.report.build import build_report
    from harness.report.load import load_dirs
    from harness.report.render import render_text
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
            write_result_dir(part, tasks, repeats)
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
            render_text(build_report(sweep))  # the analysis and the text `harness report` prints
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
    k = doc["kernel"]
    c = k["cases"]
    observed: dict[str, float | None] = {
        "trial_vs_floor": c[IN_PROCESS]["median_ms"] / c[HAND]["median_ms"],
        "oom_latency_ms": k["oom_latency"].get("from_kernel_kill", {}).get("median_ms"),
        "watcher_cpu_percent": max(k["watcher_cpu"]["percent_of_core"].values()),
        "report_1m_seconds": next((r["total"]["median_ms"] / 1000 for r in doc["report"]["sizes"].values()
                                   if r["records"] >= 900_000), None),
        "startup_overhead_ms": doc["startup"]["`harness run` imports"]["median_ms"]
        - doc["startup"][PYTHON]["median_ms"],
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
    c = k["cases"]
    floors = {"kernel": c[HAND]["median_ms"], "python": c[PYTHON]["median_ms"]}
    rows = []
    for name, s in c.items():
        base = floors["python"] if name in (CLI, PYTHON) else floors["kernel"]
        rows.append([name, f"{s['median_ms']:.2f}", f"{s['min_ms']:.2f}", f"{s['spread_ms']:.2f}", s["n"],
                     f"{s['median_ms'] / base:.2f}x"])
    la = doc["load_average"]
    lines = [f"machine: {doc['machine']}; load average {la['start'][0]:.2f} at the start, "
             f"{la['end'][0]:.2f} at the end", f"kernel cases ran on: {doc['backend']}", "",
             tabulate(rows, ["case", "median ms", "min ms", "p90-p10 ms", "n", "vs floor"]), ""]
    for stat in ("median_ms", "min_ms"):
        hand, sh, ours = c[HAND][stat], c[HAND_SH][stat], c[IN_PROCESS][stat]
        lines.append(f"in-process trial, {stat[:-3]}s: by-hand floor {hand:.2f} ms + the harness's own code "
                     f"{ours - hand:.2f} ms ({ours / hand:.2f}x); an `sh` trampoline (what the harness "
                     f"paid per trial before its spawn server) adds {sh - hand:.2f} ms")
    for name, why in k["skipped"].items():
        lines.append(f"skipped {name}: {why}")
    if "podman_trial" in k:
        p = k["podman_trial"]
        steps = ", ".join(f"{n} {s['median_ms'] / 1000:.2f} s" for n, s in p["steps"].items())
        lines.append(f"podman environment, per trial (run -d, 2 exec, 2 cp, rm -f): "
                     f"{p['per_trial_ms'] / 1000:.1f} s ({steps})")
    o = k["oom_latency"]
    if "skipped" in o:
        lines.append(f"OOM latency: skipped ({o['skipped']})")
    else:
        k_ = o["from_kernel_kill"]
        lines.append(f"OOM latency: kernel kill -> harness {k_['median_ms']:.2f} ms median "
                     f"(min {k_['min_ms']:.2f}, n={k_['n']}); "
                     f"workload's last stamp -> harness {o['from_workload_stamp']['median_ms']:.1f} ms")
    w = k["watcher_cpu"]
    files = w["timeline_files"]
    lines.append(f"watcher CPU, % of a core over {w['seconds']:g} s trials (median of {w['rounds']}): "
                 + "; ".join(f"{n} {v:.3f}" for n, v in w["percent_of_core"].items())
                 + "; timelines: " + ", ".join(f"{n} {f['samples']} samples, {f['bytes']} bytes"
                                               for n, f in files.items()))
    lines.append("")
    rrows = [[name, f"{r['first_load']['median_ms'] / 1000:.2f}", f"{r['load']['median_ms'] / 1000:.2f}",
              f"{r['analysis']['median_ms'] / 1000:.2f}", f"{r['total']['median_ms'] / 1000:.2f}"]
             for name, r in doc["report"]["sizes"].items()]
    lines.append(tabulate(rrows, ["report over", "first load (JSON) s", "load (cache) s",
                                  "analysis + text s", "total s"]))
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
    lines.append(f"\nthe whole run took {doc['wall_seconds']:.0f} s")
    return "\n".join(lines)


def guest_disks(want: bool) -> tuple[list[str], str | None]:
    """The podman store for the guest's first disk (a copy-on-write file over the cached
    store), or why there is none. The store is never built here: that takes minutes."""
    if not want:
        return [], "not asked for (--no-peers)"
    from harness.environments import uml_store

    store = uml_store.existing_base_store()
    if store is None:
        return [], (f"no podman store for user-mode Linux guests in {uml_store.cache_dir()}: build it once "
                    "with `python -m harness.environments.uml_store` (a few minutes; the container tests "
                    "build the same one)")
    return [uml_store.cow_disk(store, Path(tempfile.gettempdir()))], None


def native_podman() -> str | None:
    """Why podman cannot be a peer on this host, or None when it can."""
    from harness.environments.uml_store import BASE_IMAGE

    if shutil.which("podman") is None:
        return "podman is not installed"
    r = subprocess.run(["podman", "image", "exists", BASE_IMAGE], capture_output=True)
    if r.returncode != 0:
        return (f"the image {BASE_IMAGE} is not in podman's store here (`podman image exists` exited "
                f"{r.returncode}); import a root filesystem as it: podman import ROOTFS.tar {BASE_IMAGE}")
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("-n", "--rounds", type=int, default=20, help="rounds of each kernel case")
    ap.add_argument("--sweep-k", type=int, default=10, help="trials per sweep in the sweep case")
    ap.add_argument("--idle-seconds", type=float, default=10.0, help="length of the watcher's trials")
    ap.add_argument("--no-peers", action="store_true", help="skip the peer tools (podman, crun, runexec)")
    ap.add_argument("--benchexec", default=os.environ.get("HARNESS_BENCH_BENCHEXEC", DEFAULT_BENCHEXEC),
                    help="a `pip install --target` directory holding BenchExec, if runexec is not on PATH "
                         "[%(default)s]")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 3 rounds, no 1M-record report")
    ap.add_argument("--json", action="store_true", help="print the JSON document instead of the table")
    ap.add_argument("--save", action="store_true", help="also write results/bench/<date>-<host>.json")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--podman", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.sweep_k, args.idle_seconds = 3, 3, 2.0
    if args.rounds < 2:
        ap.error("--rounds must be at least 2")
    benchexec = None if args.no_peers else args.benchexec
    if args.inside:
        print(json.dumps(kernel_side(args.rounds, args.sweep_k, args.idle_seconds, args.podman, benchexec)))
        return 0

    from harness.doctor import diagnose
    from harness.results.host import host_metadata

    started = time.perf_counter()
    load_start = os.getloadavg()
    d = diagnose()
    print("bench: kernel cases ...", file=sys.stderr)
    if d.native_ready:
        no_podman = None if args.no_peers else native_podman()
        backend = "native"
        kernel = kernel_side(args.rounds, args.sweep_k, args.idle_seconds,
                             not args.no_peers and no_podman is None, benchexec)
        if no_podman:
            kernel["skipped"]["podman run/exec, crun run"] = no_podman
    else:
        from harness.backends.uml import UmlGuest

        disks, no_podman = guest_disks(not args.no_peers)
        inside = [sys.executable, str(Path(__file__).resolve()), "--inside", "-n", str(args.rounds),
                  "--sweep-k", str(args.sweep_k), "--idle-seconds", str(args.idle_seconds),
                  *(["--podman"] if disks else []), *(["--no-peers"] if args.no_peers else []),
                  "--benchexec", args.benchexec]
        try:
            with UmlGuest(mem="2G", disks=list(disks)) as guest:
                r = guest.run(inside, cwd=str(REPO), env={"PYTHONPATH": str(REPO)})
        finally:
            for disk in disks:
                Path(disk.split(",")[0]).unlink(missing_ok=True)
        if r.returncode != 0:
            sys.stderr.write(r.stderr.decode(errors="replace"))
            print("bench: the kernel cases failed in the user-mode Linux guest", file=sys.stderr)
            return 1
        backend, kernel = "uml (user-mode Linux 6.1 guest, 1 CPU)", json.loads(r.stdout)
        if no_podman:
            kernel["skipped"]["podman run/exec, crun run"] = no_podman
    if args.no_peers:
        kernel["skipped"]["peers"] = "not asked for (--no-peers)"
    print("bench: report and start-up cases ...", file=sys.stderr)
    sizes = REPORT_SIZES[:2] if args.quick else REPORT_SIZES
    host = dataclasses.asdict(host_metadata("native" if d.native_ready else "uml"))
    doc: dict[str, Any] = {
        "schema": 2, "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{host.get('cpu_model')} ({host.get('cores')} CPUs), "
                   f"{(host.get('memory_bytes') or 0) / 2**30:.0f} GiB, kernel {host.get('kernel')}",
        "host": host, "backend": backend, "rounds": args.rounds, "kernel": kernel,
        "report": report_side(sizes, 3), "startup": startup_side(args.rounds),
    }
    doc["targets"] = targets(doc)
    doc["wall_seconds"] = time.perf_counter() - started
    doc["load_average"] = {"start": list(load_start), "end": list(os.getloadavg())}
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
