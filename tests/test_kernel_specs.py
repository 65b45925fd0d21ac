"""Timelines, spec advice and timeout profiles against a real cgroup-v2 kernel."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO
from suites import write_task

from harness.runner import timeline

MIB = 1 << 20

# Holds each step's MiB (touched, so charged) for HOLD seconds, freeing the last block first;
# prints a CLOCK_MONOTONIC stamp before each allocation.
STEPS_PY = """\
import sys, time
hold = float(sys.argv[2])
block = None
for mib in map(int, sys.argv[1].split(",")):
    block = None
    print("step", mib, repr(time.monotonic()), flush=True)
    block = bytearray(mib << 20)
    block[::4096] = b"x" * len(block[::4096])
    time.sleep(hold)
print("done", flush=True)
"""


def records(out: Path) -> dict[str, dict]:
    lines = (out / "trials.jsonl").read_text().splitlines()
    return {r["trial_id"]: r for r in map(json.loads, lines)}


def host_harness(*args: str) -> subprocess.CompletedProcess[str]:
    """Commands that only read result files run on the host."""
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=str(REPO), capture_output=True,
                          text=True, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=120)


def test_timeline_follows_a_ramp_and_spike_and_marks_the_kill(kernel, shared_tmp):
    suite = shared_tmp / "suite"
    task = write_task(suite, "ramp", '"$HARNESS_PYTHON" -S "$HARNESS_TASK_DIR/steps.py" 4,8,16,32,4 0.6\n'
                      "echo ok > result", memory="memory_mb = 32")
    (task / "steps.py").write_text(STEPS_PY)
    out = shared_tmp / "out"
    r = kernel.harness("sweep", str(suite), "--out", str(out), "--profiles", "1x,2x", "--repeats", "1",
                       "--seed", "3")
    assert r.returncode == 0, r.stderr
    recs = records(out)
    ok, killed = recs["ramp/2x/0"], recs["ramp/1x/0"]
    assert ok["outcome"] == "passed" and killed["infra_reason"] == "oom_kill"

    tl = timeline.read(out / "logs" / "ramp__2x__0" / timeline.FILE_NAME)
    peak = ok["memory_peak_bytes"]
    assert tl.memory_peak_bytes == peak and max(p for p in tl.peak if p is not None) == peak
    # the spike is held for longer than the dense interval, so a sample lands on it
    assert peak - 6 * MIB <= tl.max_sampled <= peak
    assert tl.max_sampled >= 32 * MIB
    ramp = [m for m in tl.memory if m is not None]
    top = ramp.index(max(ramp))
    assert max(ramp[:top]) < max(ramp) and ramp[-1] < max(ramp) - 24 * MIB  # rose, then fell
    assert tl.limits["memory.max"] == str(64 * MIB) and not [e for e in tl.events if e["kind"] == "oom_kill"]

    raw = json.loads((out / "logs" / "ramp__1x__0" / timeline.FILE_NAME).read_text())
    kt = timeline.read(out / "logs" / "ramp__1x__0" / timeline.FILE_NAME)
    kills = [e for e in kt.events if e["kind"] == "oom_kill"]
    assert len(kills) == 1 and kills[0]["count"] >= 1
    kill_at = raw["t0_monotonic"] + kills[0]["t_ms"] / 1000
    stamps = {int(line.split()[1]): float(line.split()[2])
              for line in (out / "logs" / "ramp__1x__0" / "agent.log").read_text().splitlines()
              if line.startswith("step ")}
    assert max(stamps) == 32 and 4 not in {k for k in stamps if stamps[k] > stamps[32]}  # died at the spike
    assert stamps[16] + 0.6 <= kill_at  # after the last step that fit
    assert stamps[32] <= kill_at <= stamps[32] + 5.0  # while the spike was being allocated
    assert abs(kills[0]["t_ms"] / 1000 - killed["first_oom_kill_seconds"]) < 0.5
    assert kt.limits["memory.max"] == str(32 * MIB)

    shown = host_harness("show", str(out), "ramp/1x/0", "--width", "40")
    assert shown.returncode == 0, shown.stderr
    assert "oom_kill" in shown.stdout and "X" in shown.stdout and "=" * 30 in shown.stdout
    png = shared_tmp / "kill.png"
    plotted = host_harness("show", str(out), "ramp/1x/0", "--plot", str(png))
    assert plotted.returncode == 0, plotted.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    missing = host_harness("show", str(out), "ramp/9x/0")
    assert missing.returncode == 2 and "ramp/1x/0" in missing.stderr


def test_advice_flags_wrong_specs_and_the_advised_spec_passes(kernel, shared_tmp):
    suite = shared_tmp / "suite"
    alloc = '"$HARNESS_PYTHON" -S "$HARNESS_TASK_DIR/steps.py" 48 0.2\necho ok > result'
    (write_task(suite, "spiky", alloc, memory="memory_mb = 32") / "steps.py").write_text(STEPS_PY)
    write_task(suite, "idle", "echo ok > result", memory="memory_mb = 256")
    first = shared_tmp / "first"
    r = kernel.harness("sweep", str(suite), "--out", str(first), "--profiles", "1x,3x", "--repeats", "2",
                       "--seed", "5")
    assert r.returncode == 0, r.stderr
    spiky_peak = max(x["memory_peak_bytes"] for x in records(first).values()
                     if x["task"] == "spiky" and x["outcome"] == "passed")
    assert spiky_peak > 48 * MIB

    overrides = shared_tmp / "specs.toml"
    adv = host_harness("advise", str(first), "--json", "--write-overrides", str(overrides))
    assert adv.returncode == 0, adv.stderr
    doc = {a["task"]: a for a in json.loads(adv.stdout)["tasks"]}
    assert "memory above spec" in doc["spiky"]["flags"]
    assert doc["spiky"]["n_oom_killed"] == 2 and doc["spiky"]["lower_bound_max"] is not None
    assert doc["spiky"]["guarantee_bytes"] > spiky_peak
    assert doc["spiky"]["kill_threshold_bytes"] >= doc["spiky"]["guarantee_bytes"]
    assert "memory far below spec" in doc["idle"]["flags"] and "memory above spec" not in doc["idle"]["flags"]
    assert doc["idle"]["guarantee_bytes"] < 256 * MIB
    text = host_harness("advise", str(first))
    assert text.returncode == 0 and "rule:" in text.stdout and "≥" in text.stdout

    second = shared_tmp / "second"
    r = kernel.harness("sweep", str(suite), "--out", str(second), "--profiles", "1x", "--repeats", "2",
                       "--seed", "5", "--spec-overrides", str(overrides))
    assert r.returncode == 0, r.stderr
    again = records(second)
    assert all(x["outcome"] == "passed" for x in again.values()), [
        (x["trial_id"], x["outcome"], x["infra_reason"]) for x in again.values()]
    assert {x["declared_memory_bytes"] for x in again.values() if x["task"] == "spiky"} == {
        doc["spiky"]["guarantee_bytes"]}
    m = json.loads((second / "manifest.json").read_text())
    assert m["spec_overrides"]["spiky"]["memory_bytes"] == doc["spiky"]["guarantee_bytes"]
    assert m["spec_overrides"]["spiky"]["declared_memory_bytes"] == 32 * MIB
    assert m["suite"]["specs"]["spiky"]["memory_bytes"] == doc["spiky"]["guarantee_bytes"]


def test_timeout_profiles_fail_at_half_and_pass_at_double(kernel, shared_tmp):
    suite = shared_tmp / "suite"
    write_task(suite, "deadline", "sleep 1.5\necho ok > result", agent_timeout=2)
    out = shared_tmp / "out"
    r = kernel.harness("sweep", str(suite), "--out", str(out), "--profiles", "1x", "--timeout-profiles",
                       "0.5x,2x,none", "--repeats", "1", "--seed", "2")
    assert r.returncode == 0, r.stderr
    recs = records(out)
    half, double, none = recs["deadline/1x-t0.5x/0"], recs["deadline/1x-t2x/0"], recs["deadline/1x-tnone/0"]
    assert half["outcome"] == "timeout" and half["agent_timeout_sec"] == 1.0
    assert half["timeout_multiplier"] == 0.5
    assert double["outcome"] == "passed" and double["agent_timeout_sec"] == 4.0
    assert none["outcome"] == "passed" and none["agent_timeout_sec"] is None
    assert [e["kind"] for e in timeline.read(out / "logs" / "deadline__1x-t0.5x__0" / timeline.FILE_NAME)
            .events].count("timeout") == 1
    m = json.loads((out / "manifest.json").read_text())
    assert {p["name"]: p["timeout_multiplier"] for p in m["profiles"]} == {
        "1x-t0.5x": 0.5, "1x-t2x": 2.0, "1x-tnone": None}
    rep = host_harness("report", str(out), "--json", "--baseline", "1x-t0.5x")
    assert rep.returncode == 0, rep.stderr
    doc = json.loads(rep.stdout)
    trend = doc["trend"]
    assert trend["axis"] == "timeout" and trend["order"] == ["1x-t0.5x", "1x-t2x"]
    assert {p["name"]: p["timeout_multiplier"] for p in doc["profiles"]}["1x-tnone"] is None
    png = shared_tmp / "report.png"
    plotted = host_harness("report", str(out), "--baseline", "1x-t0.5x", "--plot", str(png))
    assert plotted.returncode == 0, plotted.stderr
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_a_uml_sweep_samples_scales_timeouts_and_applies_overrides(uml_kernel, shared_tmp):
    """--backend uml: the settings travel whole to the guest, so the sampling interval, the
    timeout profiles and the spec overrides act there exactly as in a native sweep."""
    suite = shared_tmp / "suite"
    write_task(suite, "deadline", "sleep 1.5\necho ok > result", agent_timeout=2)
    specs = shared_tmp / "specs.toml"
    specs.write_text('[task.deadline]\nmemory = "48M"\ncpus = 0.5\n')
    out = shared_tmp / "out"
    r = subprocess.run([sys.executable, "-m", "harness", "sweep", str(suite), "--out", str(out),
                        "--backend", "uml", "--profiles", "1x", "--timeout-profiles", "0.5x,2x",
                        "--spec-overrides", str(specs), "--sample-interval", "0.05", "--repeats", "1",
                        "--seed", "4"], cwd=str(REPO), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    recs = records(out)
    half, double = recs["deadline/1x-t0.5x/0"], recs["deadline/1x-t2x/0"]
    assert half["outcome"] == "timeout" and half["agent_timeout_sec"] == 1.0
    assert double["outcome"] == "passed" and double["agent_timeout_sec"] == 4.0
    assert {x["backend"] for x in recs.values()} == {"uml"}
    assert {(x["declared_memory_bytes"], x["declared_cpus"]) for x in recs.values()} == {(48 * MIB, 0.5)}
    assert half["limits"]["memory.max"] == str(48 * MIB)
    m = json.loads((out / "manifest.json").read_text())
    assert m["settings"]["sample_interval"] == 0.05
    assert m["spec_overrides"]["deadline"] == {"memory_bytes": 48 * MIB, "cpus": 0.5,
                                               "declared_memory_bytes": 32 * MIB, "declared_cpus": 1.0}
    raw = json.loads((out / "logs" / "deadline__1x-t2x__0" / timeline.FILE_NAME).read_text())
    assert raw["policy"]["first"] == 0.05
    assert [e["kind"] for e in timeline.read(out / "logs" / "deadline__1x-t0.5x__0" / timeline.FILE_NAME)
            .events].count("timeout") == 1
