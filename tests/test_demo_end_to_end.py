"""The README's main command, end to end: `harness demo` on a real cgroup-v2 kernel."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO


def test_demo_shows_infra_errors_falling_as_the_limit_rises(kernel, shared_tmp):
    # `kernel` only gates the test (it fails under CI=true without a real kernel); the demo
    # picks its own backend as a user's would: native here if possible, else UML guests.
    out = shared_tmp / "demo"
    argv = [sys.executable, "-m", "harness", "demo", "--repeats", "1", "--out", str(out), "--json"]
    p = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    doc = json.loads(p.stdout)  # stdout is the report alone
    infra = {row["name"]: row["infra_error_rate"] for row in doc["profiles"]}
    assert list(infra) == ["1x", "1.5x", "2x", "3x", "5x", "uncapped"]
    assert infra["1x"] > infra["3x"] >= infra["5x"] == infra["uncapped"] == 0.0
    flips = {f["task"]: f for f in doc["flipping_tasks"]["tasks"]}
    assert "spike-install" in flips and "heavy-strategy" in flips
    files = sorted(out.glob("*/trials.jsonl")) or [out / "trials.jsonl"]
    records = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    by = {(r["task"], r["profile"]): r for r in records}
    assert len(by) == 36
    assert by[("spike-install", "1x")]["infra_reason"] == "oom_kill"
    assert by[("spike-install", "3x")]["outcome"] == "passed"
    assert by[("heavy-strategy", "3x")]["infra_reason"] == "oom_kill"
    assert by[("heavy-strategy", "5x")]["outcome"] == "passed"
    assert by[("lean-solver", "1x")]["outcome"] == "passed"
    assert by[("cpu-deadline", "1x")]["outcome"] in ("failed", "timeout")
    assert by[("cpu-deadline", "1x")]["cpu_nr_throttled"] > 0
    assert by[("cpu-deadline", "5x")]["outcome"] == "passed"
