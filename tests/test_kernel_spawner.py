"""The spawn server on a real cgroup-v2 kernel: where workloads start, where the server
stays, and what a trial records when a workload (root, or out of memory) takes it down."""

from __future__ import annotations

import json
import sys
from pathlib import Path

PY = sys.executable
REPO = Path(__file__).resolve().parent.parent

PLACEMENT = """
import json, os, sys, threading
from harness.cgroup.workspace import Workspace
from harness.runner.trial import RunSpec, run_trial

out, mode = sys.argv[1], sys.argv[2]
stop = threading.Event()
if mode == "executed":  # a thread before the first spawn: the server cannot be forked
    threading.Thread(target=stop.wait, daemon=True).start()
with Workspace.open("spawner") as ws:
    sp = ws.start_spawner()
    script = ("cat /proc/self/cgroup >> {o}; (cat /proc/self/cgroup >> {o}) & wait; "
              "exec cat /proc/self/cgroup >> {o}").format(o=out)
    recs = [run_trial(ws, RunSpec(command=["sh", "-c", script])) for _ in range(3)]
    lines = open(out).read().split()
    supervisor = ws.supervisor.pids()
    trials_left = [c.path.name for c in ws.trials()]
    print(json.dumps({"executed": sp._proc is not None, "server": sp.pid, "supervisor": supervisor,
                      "harness": os.getpid(), "seen": lines, "cgroups": [r.cgroup for r in recs],
                      "outcomes": [r.outcome for r in recs], "trials_left": trials_left}))
stop.set()
"""


def _run(kernel, shared_tmp: Path, name: str, code: str, *args: str) -> dict:
    script = shared_tmp / f"{name}.py"
    script.write_text(code)
    r = kernel.run([PY, str(script), *args], env={"PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout.splitlines()[-1])


def test_workloads_start_in_their_trial_and_the_server_goes_home(kernel, shared_tmp):
    """Forked or executed, the server starts every process of the workload (the first
    instruction on) inside its trial cgroup, and is back in the supervisor leaf after."""
    for mode in ("forked", "executed"):
        out = shared_tmp / f"seen-{mode}"
        doc = _run(kernel, shared_tmp, "placement", PLACEMENT, str(out), mode)
        assert doc["executed"] is (mode == "executed")
        assert doc["outcomes"] == ["passed"] * 3, doc
        mount = "/sys/fs/cgroup"
        expected = [f"0::{c.removeprefix(mount)}" for c in doc["cgroups"] for _ in range(3)]
        lines = sorted(doc["seen"])
        assert lines == sorted(expected), doc
        assert sorted(doc["supervisor"]) == sorted([doc["harness"], doc["server"]]), doc
        assert doc["trials_left"] == []


KILLED = """
import json, os, signal
from harness.cgroup.workspace import Workspace
from harness.limits import LimitSettings
from harness.runner.trial import RunSpec, run_trial

with Workspace.open("spawner") as ws:
    first = ws.start_spawner().pid
    # a root workload kills its parent, the server, then "passes"
    killed = run_trial(ws, RunSpec(command=["sh", "-c", "kill -9 $PPID; sleep 0.2; exit 0"]))
    after = run_trial(ws, RunSpec(command=["sh", "-c", "exit 5"]))
    # a limit too small to exec python in: an OOM kill, wherever it lands
    small = run_trial(ws, RunSpec(command=["python3", "-c", "pass"],
                                  limits=LimitSettings(memory_max_bytes=4 << 20)))
    last = run_trial(ws, RunSpec(command=["true"]))
    print(json.dumps({"first": first, "second": ws.spawner().pid,
                      "killed": [killed.outcome, killed.infra_reason, killed.error],
                      "after": [after.outcome, after.exit_code],
                      "small": [small.outcome, small.infra_reason, small.memory_events],
                      "last": last.outcome}))
"""


EXEC_OOM = """
import json, os, resource
from harness.cgroup.workspace import Workspace
from harness.limits import LimitSettings
from harness.runner.trial import RunSpec, run_trial

# exec copies arguments and environment into the new image, charged to the trial: 5 MiB of
# environment (the stack limit raised so the kernel takes it) cannot start under 4 MiB
resource.setrlimit(resource.RLIMIT_STACK, (64 << 20, 64 << 20))
env = {f"PAD{i}": "x" * ((128 << 10) - 16) for i in range(40)}
env["PATH"] = os.environ["PATH"]
with Workspace.open("spawner") as ws:
    first = ws.start_spawner().pid
    roomy = run_trial(ws, RunSpec(command=["true"], env=env, limits=LimitSettings(memory_max_bytes=64 << 20)))
    small = run_trial(ws, RunSpec(command=["true"], env=env, limits=LimitSettings(memory_max_bytes=4 << 20)))
    after = run_trial(ws, RunSpec(command=["true"]))
    print(json.dumps({"first": first, "second": ws.spawner().pid, "roomy": roomy.outcome,
                      "small": [small.outcome, small.infra_reason, small.oom_kill_source, small.exit_code,
                                small.memory_events, small.error],
                      "after": after.outcome}))
"""


def test_an_oom_kill_during_the_exec_is_an_oom_kill_though_it_takes_the_server(kernel, shared_tmp):
    """The server is in the trial cgroup while it starts the workload, so an OOM kill there
    (memory.oom.group) takes it too: the trial is an OOM kill from the limit, its memory
    events recorded and the message saying so, not a harness error blamed on a root agent."""
    doc = _run(kernel, shared_tmp, "exec_oom", EXEC_OOM)
    assert doc["roomy"] == "passed", doc  # the same exec fits in 64 MiB
    outcome, reason, source, code, events, error = doc["small"]
    assert (outcome, reason, source, code) == ("infra_error", "oom_kill", "limit", 128 + 9), doc
    assert events["oom"] >= 1 and events["oom_kill"] >= 1, events
    assert error.startswith("OOM-killed while starting") and "root" not in error, error
    assert doc["second"] != doc["first"] and doc["after"] == "passed", doc


def test_a_killed_server_is_an_infra_error_never_a_verdict(kernel, shared_tmp):
    """The workload exits 0 but its exit status died with the server: not a pass. The
    next trial gets a new server. A workload too big for its limit is an OOM kill."""
    doc = _run(kernel, shared_tmp, "killed", KILLED)
    outcome, reason, error = doc["killed"]
    assert outcome == "infra_error" and reason == "harness_error", doc
    assert "spawn server" in error and "is gone" in error, error
    assert doc["after"] == ["failed", 5], doc
    assert doc["second"] != doc["first"]
    outcome, reason, events = doc["small"]
    assert outcome == "infra_error" and reason == "oom_kill", doc
    assert events["oom_kill"] >= 1
    assert doc["last"] == "passed"
