"""The commands as a user on this host runs them: doctor's verdict, --backend uml relays."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO

PY = sys.executable


def harness(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "harness", *args], capture_output=True, text=True, cwd=cwd or REPO,
                          timeout=300)


def test_doctor_json_matches_the_host():
    from harness.cgroup.discover import read_mounts

    r = harness("doctor", "--json")
    doc = json.loads(r.stdout)
    checks = {c["name"]: c for c in doc["checks"]}
    layout = read_mounts().layout
    assert checks["cgroup layout"]["value"].startswith(layout)
    if layout == "hybrid":
        assert doc["native_ready"] is False
        assert "uml" in checks["cgroup layout"]["fix"]
    assert r.returncode == (0 if doc["auto_backend"] else 1)
    for c in doc["checks"]:
        assert c["ok"] is not False or c["fix"], f"a failed check without a fix: {c}"


def test_run_through_uml_relays_record_and_status(uml_kernel):
    alloc = "b = bytearray(64 << 20); b[::4096] = b'x' * len(b[::4096])"
    r = harness("run", "--backend", "uml", "--json", "--memory", "32M", "--", PY, "-c", alloc)
    assert r.returncode == 137, r.stderr
    rec = json.loads(r.stdout)
    assert rec["backend"] == "uml" and rec["infra_reason"] == "oom_kill"


def test_bad_flags_exit_125_with_a_fix():
    r = harness("run", "--memory", "lots", "--", "true")
    assert r.returncode == 125
    assert "--memory" in r.stderr and "fix:" in r.stderr
    r = harness("run", "--memory-limit", "3x", "--", "true")
    assert r.returncode == 125 and "declared amount" in r.stderr
