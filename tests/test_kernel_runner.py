"""`harness run` against a real cgroup-v2 kernel: limits, OOM kills, throttling, cleanup."""

from __future__ import annotations

import sys
from pathlib import Path

PY = sys.executable
REPO = Path(__file__).resolve().parent.parent
ALLOC = "import sys; b = bytearray(int(sys.argv[1]) << 20); b[::4096] = b'x' * len(b[::4096]); print('done')"


def alloc(mib: int) -> list[str]:
    return [PY, "-c", ALLOC, str(mib)]


def test_over_the_limit_is_oom_killed_and_an_infra_error(kernel):
    r = kernel.harness("run", "--json", "--memory", "32M", "--", *alloc(64))
    rec = r.json()
    assert r.returncode == 137, r.stderr
    assert rec["outcome"] == "infra_error" and rec["infra_reason"] == "oom_kill"
    assert rec["memory_events"]["oom_kill"] >= 1 and rec["memory_events"]["oom"] >= 1
    assert rec["oom_kill_source"] == "limit"
    assert rec["signal"] == 9
    assert "oom_kill" in r.stderr  # announced as it happened


def test_same_workload_passes_under_a_3x_limit(kernel):
    r = kernel.harness("run", "--json", "--memory", "32M", "--memory-limit", "3x", "--", *alloc(64))
    rec = r.json()
    assert r.returncode == 0, r.stderr
    assert rec["outcome"] == "passed" and rec["infra_reason"] is None
    assert rec["memory_events"]["oom_kill"] == 0
    assert rec["memory_peak_bytes"] > 64 << 20
    assert rec["limits"]["memory.max"] == str(96 << 20)


def test_limits_read_back_as_asked(kernel):
    r = kernel.harness("run", "--json", "--memory", "64M", "--memory-guarantee", "1x",
                       "--memory-limit", "2.5x", "--memory-high", "2x", "--cpus", "2",
                       "--cpu-limit", "0.5x", "--pids-max", "77", "--", "true")
    lim = r.json()["limits"]
    assert lim["memory.low"] == str(64 << 20)
    assert lim["memory.min"] == "0"
    assert lim["memory.max"] == str(160 << 20)
    assert lim["memory.high"] == str(128 << 20)
    assert lim["memory.swap.max"] == "0"
    assert lim["memory.oom.group"] == "1"
    assert lim["cpu.max"] == "100000 100000"
    assert lim["cpu.weight"] == "79"
    assert lim["pids.max"] == "77"


def test_min_protection_and_no_oom_group(kernel):
    r = kernel.harness("run", "--json", "--memory", "64M", "--protection", "min", "--memory-limit", "max",
                       "--no-oom-group", "--", "true")
    lim = r.json()["limits"]
    assert lim["memory.min"] == str(64 << 20) and lim["memory.low"] == "0"
    assert lim["memory.max"] == "max" and lim["memory.oom.group"] == "0"


def test_half_a_cpu_is_about_half_a_cpu_and_throttled(kernel):
    busy = "import time\nt = time.monotonic()\nwhile time.monotonic() - t < 3: pass"
    r = kernel.harness("run", "--json", "--cpus", "1", "--cpu-limit", "0.5", "--", PY, "-c", busy)
    rec = r.json()
    assert rec["outcome"] == "passed"
    share = rec["cpu_usage_usec"] / 1e6 / rec["wall_seconds"]
    assert 0.35 < share < 0.65, share
    assert rec["cpu_nr_throttled"] > 0.5 * rec["cpu_nr_periods"] > 0


def test_oom_kill_is_seen_as_it_happens(kernel):
    # Without oom.group only the allocating child dies; the main process lives on for
    # 3 s and exits 0. The kill must be timed when it happened, not when the trial ended.
    script = f"{PY} -c \"{ALLOC}\" 80; sleep 3; exit 0"
    r = kernel.harness("run", "--json", "--memory", "32M", "--no-oom-group", "--", "sh", "-c", script)
    rec = r.json()
    assert rec["outcome"] == "passed"  # it passed anyway, and keeps its count
    assert rec["memory_events"]["oom_kill"] >= 1
    assert rec["first_oom_kill_seconds"] is not None
    assert rec["first_oom_kill_seconds"] < rec["wall_seconds"] - 2.0


def test_double_forked_and_setsid_children_are_killed(kernel, shared_tmp):
    pids = shared_tmp / "pids"
    script = (f"(sleep 300 & echo $! >> {pids}) & setsid sh -c 'echo $$ >> {pids}; sleep 300' & "
              f"sh -c 'trap \"\" TERM HUP; sleep 300' & echo $! >> {pids}; sleep 0.5; exit 0")
    r = kernel.harness("run", "--json", "--", "sh", "-c", script)
    rec = r.json()
    assert rec["outcome"] == "passed"
    assert rec["leftover_processes_killed"] >= 3
    survivors = kernel.sh(f"for p in $(cat {pids}); do [ -d /proc/$p ] && echo $p; done; true")
    assert len(pids.read_text().split()) == 3
    assert survivors.stdout.strip() == "", f"still alive: {survivors.stdout}"


def test_fork_bomb_is_stopped_by_pids_max(kernel):
    bomb = "b() { b | b & }; b; sleep 100"
    r = kernel.harness("run", "--json", "--pids-max", "40", "--timeout", "3", "--grace", "1",
                       "--", "bash", "-c", bomb)
    rec = r.json()
    assert rec["pids_max_events"] > 0
    assert rec["pids_peak"] is None or rec["pids_peak"] <= 40
    assert r.returncode in (124, 0, 2) or rec["outcome"] in ("timeout", "failed", "passed")
    after = kernel.sh("ls /sys/fs/cgroup/harness 2>/dev/null | grep -c -- '-[0-9]*-[0-9a-f]*$' || true")
    assert after.returncode == 0


def test_timeout_sigterm_then_kill(kernel):
    r = kernel.harness("run", "--json", "--timeout", "1", "--grace", "1", "--",
                       "sh", "-c", "trap '' TERM; sleep 30")
    rec = r.json()
    assert r.returncode == 124 and rec["outcome"] == "timeout" and rec["timed_out"]
    assert 1.0 <= rec["wall_seconds"] < 10


def test_missing_and_not_executable_commands(kernel, shared_tmp):
    r = kernel.harness("run", "--json", "--", "no-such-command-xyz")
    assert r.returncode == 127
    assert r.json()["infra_reason"] == "spawn_error"
    script = shared_tmp / "noexec.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)
    r = kernel.harness("run", "--json", "--", str(script))
    assert r.returncode == 126 and r.json()["outcome"] == "infra_error"


def test_exit_status_and_record_file(kernel, shared_tmp):
    record = shared_tmp / "runs.jsonl"
    r = kernel.harness("run", "--record", str(record), "--", "sh", "-c", "echo hi; exit 3")
    assert r.returncode == 3 and r.stdout == "hi\n"  # plain mode: the command's own stdout
    r = kernel.harness("run", "--record", str(record), "--", "true")
    lines = [line for line in record.read_text().splitlines() if line]
    assert [__import__("json").loads(x)["exit_code"] for x in lines] == [3, 0]


def test_no_trial_cgroup_is_left_behind(kernel):
    kernel.harness("run", "--memory", "32M", "--", *alloc(64))
    r = kernel.sh("find /sys/fs/cgroup/harness -mindepth 1 -type d 2>/dev/null | "
                  "grep -v '/supervisor$' || true")
    leftovers = [line for line in r.stdout.splitlines() if line.strip()]
    # Only live sessions (another test's harness still running) may remain, never a trial.
    assert leftovers == [], leftovers


def test_doctor_inside_the_kernel(kernel):
    r = kernel.harness("doctor", "--json")
    doc = r.json()
    assert r.returncode == 0 and doc["native_ready"] is True
    assert {c["name"]: c["ok"] for c in doc["checks"]}["controllers"] is True


def test_sigterm_to_harness_kills_the_trial(kernel, shared_tmp):
    pids = shared_tmp / "pid"
    r = kernel.sh(f"{kernel.python} -m harness run -- sh -c 'echo $$ > {pids}; sleep 300' & h=$!; "
                  f"n=0; while [ ! -s {pids} ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done; "
                  f"kill -TERM $h; wait $h; echo status=$?; "
                  f"[ -d /proc/$(cat {pids}) ] && echo ALIVE; true")
    assert "status=143" in r.stdout, r.stdout + r.stderr
    assert "ALIVE" not in r.stdout
    assert "interrupted" in r.stderr


def test_a_busy_harness_still_starts_its_workload(kernel, shared_tmp):
    """With every descriptor below 10 taken, the trampoline's pipe (podman's commands start
    through it) lands at 10 or above, where dash cannot redirect: the command must still
    start in its cgroup, not exit 125 as a 'failure'."""
    script = shared_tmp / "busy.py"
    script.write_text(
        "import os\n"
        "from harness.cgroup.workspace import Workspace\n"
        "from harness.runner.spawn import spawn_in_cgroup\n"
        "held = [os.open('/dev/null', os.O_RDONLY) for _ in range(12)]\n"
        "assert min(set(range(3, 10)) - set(held), default=None) is None, held\n"
        "with Workspace.open('busy') as ws:\n"
        "    cg = ws.new_trial('busy')\n"
        "    proc = spawn_in_cgroup(cg, ['sh', '-c', 'cat /proc/self/cgroup; exit 7'])\n"
        "    print(proc.wait(), cg.path.name)\n")
    r = kernel.run([PY, str(script)], env={"PYTHONPATH": str(REPO)})  # this checkout, not an install
    assert r.returncode == 0, r.stderr
    where, status, name = r.stdout.split()
    assert status == "7" and where.endswith(f"/{name}"), r.stdout + r.stderr


def test_run_writes_a_timeline_that_show_draws(kernel, shared_tmp):
    # `harness run --timeline FILE`: the same sampler as a sweep's trials, the OOM kill marked;
    # `harness show FILE` draws it, and refuses a TRIAL beside a file.
    import json
    import subprocess

    path = shared_tmp / "run-timeline.json"
    r = kernel.harness("run", "--json", "--memory", "32M", "--timeline", str(path), "--", *alloc(64))
    assert r.returncode == 137, r.stderr
    doc = json.loads(path.read_text())
    assert [e["kind"] for e in doc["events"]][-2:] == ["oom_kill", "exit"], doc["events"]
    assert doc["limits"]["memory.max"] == str(32 << 20)
    assert doc["memory_peak_bytes"] == r.json()["memory_peak_bytes"] >= 30 << 20
    show = [PY, "-m", "harness", "show"]
    shown = subprocess.run([*show, str(path), "--width", "40"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "oom_kill" in shown.stdout and "=" * 30 in shown.stdout, shown
    both = subprocess.run([*show, str(path), "x/1x/0"], capture_output=True, text=True, timeout=60)
    assert both.returncode == 2 and "takes no TRIAL" in both.stderr
    nodir = kernel.harness("run", "--timeline", str(shared_tmp / "no" / "t.json"), "--", "true")
    assert nodir.returncode == 125 and "no directory" in nodir.stderr
