"""Hostile agents and wrong data (issue 11), on the real kernel: each test is a case that
recorded a wrong verdict or lost work before its fix."""

from __future__ import annotations

import json

from conftest import REPO
from suites import write_task

ENV = {"PYTHONPATH": str(REPO)}


def records(out):
    return [json.loads(line) for line in (out / "trials.jsonl").read_text().splitlines() if line]


def sweep(kernel, suite, out, *extra, cwd=None, env=None):
    return kernel.harness("sweep", str(suite), "--out", str(out), "--profiles", "1x", "--repeats", "1",
                          "--seed", "1", *extra, cwd=cwd, env={**ENV, **(env or {})})


def test_refused_resume_leaves_the_running_sweep_alone(kernel, shared_tmp):
    """Item 1: `--resume D` while D runs used to remove D/work under the running trial."""
    go = shared_tmp / "go"
    suite = shared_tmp / "suite"
    write_task(suite, "slow", f"echo ok > result; n=0; while [ ! -f {go} ] && [ $n -lt 600 ]; "
                              "do sleep 0.1; n=$((n+1)); done", "test -f result")
    out = shared_tmp / "out"
    h = f"{kernel.python} -m harness sweep"
    r = kernel.sh(
        f"{h} {suite} --out {out} --profiles 1x --repeats 1 --seed 1 2>{shared_tmp}/first.err & pid=$!; "
        f"n=0; until ls {out}/work/*/result >/dev/null 2>&1 || [ $n -gt 600 ]; "
        "do sleep 0.1; n=$((n+1)); done; "
        f"{h} --resume {out} 2>{shared_tmp}/second.err; echo second=$?; "
        f"touch {go}; wait $pid; echo first=$?", env=ENV, timeout=240)
    assert "second=2" in r.stdout and "first=0" in r.stdout, r.stdout + r.stderr
    assert "another harness" in (shared_tmp / "second.err").read_text()
    (rec,) = records(out)
    assert rec["outcome"] == "passed", rec


def test_relative_out_keeps_a_failing_reward_a_failure(kernel, shared_tmp):
    """Item 2: with a relative --out the reward file path was relative to the verifier's
    cwd, so a verifier writing 0 and exiting 0 was recorded passed."""
    suite = shared_tmp / "suite"
    write_task(suite, "zero", "echo ok > result", 'echo 0 > "$HARNESS_REWARD_FILE"; exit 0')
    r = sweep(kernel, suite, "rel-out", cwd=str(shared_tmp))
    assert r.returncode == 0, r.stderr
    (rec,) = records(shared_tmp / "rel-out")
    assert rec["outcome"] == "failed" and rec["verifier"]["reward"] == 0.0, rec


def test_a_non_finite_reward_is_a_failure_and_the_record_stays_json(kernel, shared_tmp):
    suite = shared_tmp / "suite"
    write_task(suite, "nan", "echo ok > result", 'echo nan > "$HARNESS_REWARD_FILE"')
    write_task(suite, "inf", "echo ok > result", 'echo inf > "$HARNESS_REWARD_FILE"')
    r = sweep(kernel, suite, shared_tmp / "out")
    assert r.returncode == 0, r.stderr
    text = (shared_tmp / "out" / "trials.jsonl").read_text()
    assert "NaN" not in text and "Infinity" not in text
    for rec in records(shared_tmp / "out"):
        assert rec["outcome"] == "failed" and rec["verifier"]["reward"] is None, rec


def test_an_agent_that_deletes_the_records_stops_the_sweep(kernel, shared_tmp):
    """The harness appended on into the deleted file: every later record silently lost."""
    suite = shared_tmp / "suite"
    write_task(suite, "rm", 'rm -f "$HARNESS_WORKDIR/../../trials.jsonl"; echo ok > result')
    out = shared_tmp / "out"
    r = kernel.harness("sweep", str(suite), "--out", str(out), "--profiles", "1x", "--repeats", "2",
                       "--seed", "1", env=ENV)
    assert r.returncode == 125 and "was removed or replaced" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def _own_cgroup() -> str:
    return '/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)'


def test_an_agent_that_raises_its_own_memory_max_is_not_counted_under_its_profile(kernel, shared_tmp):
    """Item 4: writing `max` to its memory.max succeeded and the record kept the old value."""
    suite = shared_tmp / "suite"
    write_task(suite, "raise", f"echo max > {_own_cgroup()}/memory.max; echo ok > result")
    r = sweep(kernel, suite, shared_tmp / "out")
    assert r.returncode == 0, r.stderr
    (rec,) = records(shared_tmp / "out")
    assert rec["outcome"] == "infra_error" and rec["infra_reason"] == "limits_tampered", rec
    assert rec["limits_changed"]["memory.max"] == [str(32 << 20), "max"]
    assert rec["limits"]["memory.max"] == str(32 << 20)  # what it started under, as before


def test_an_agent_that_leaves_its_cgroup_is_found_and_killed(kernel, shared_tmp):
    """Item 4: moving its pid to another cgroup took it out; its child outlived the trial."""
    suite = shared_tmp / "suite"
    write_task(suite, "leave", "sh -c 'echo $$ > /sys/fs/cgroup/cgroup.procs; exec sleep 4243' & "
                               # one that also leaves the session
                               "setsid sh -c 'echo $$ > /sys/fs/cgroup/cgroup.procs; exec sleep 4243' & "
                               "sleep 0.5; echo ok > result")
    r = sweep(kernel, suite, shared_tmp / "out")
    assert r.returncode == 0, r.stderr
    (rec,) = records(shared_tmp / "out")
    assert rec["outcome"] == "infra_error" and rec["infra_reason"] == "escaped", rec
    assert rec["escaped_processes_killed"] == 2
    left = kernel.sh("ps -eo args | grep -c '^sleep 4243' || true")
    assert left.stdout.strip() == "0", left.stdout


def test_agent_user_cannot_reach_the_cgroup_files(kernel, shared_tmp):
    """Item 4, prevention: run unprivileged (--agent-user), the kernel refuses both moves."""
    suite = shared_tmp / "suite"
    write_task(suite, "try", f"echo max > {_own_cgroup()}/memory.max 2>&1 || echo refused-max; "
                             "echo $$ > /sys/fs/cgroup/cgroup.procs 2>&1 || echo refused-move; "
                             "id -u; echo ok > result")
    r = sweep(kernel, suite, shared_tmp / "out", "--agent-user", "nobody")
    assert r.returncode == 0, r.stderr
    (rec,) = records(shared_tmp / "out")
    log = next((shared_tmp / "out" / "logs").iterdir()) / "agent.log"
    text = log.read_text()
    assert "refused-max" in text and "refused-move" in text and "65534" in text, text
    assert rec["outcome"] == "passed" and rec["limits_changed"] == {} and rec["escaped_processes_killed"] == 0


def test_protect_limits_keeps_a_root_agent_from_the_cgroup_files(kernel, shared_tmp):
    """Item 4, prevention for a root agent: a private mount namespace with cgroupfs
    read-only, and no capability that would undo it (remount, a new cgroupfs, nsenter,
    /proc/1/root). It stays root."""
    suite = shared_tmp / "suite"
    cg = _own_cgroup()
    write_task(suite, "try", f"echo max > {cg}/memory.max || echo refused-max; "
                             "echo $$ > /sys/fs/cgroup/cgroup.procs || echo refused-move; "
                             "mount -o remount,rw /sys/fs/cgroup || echo refused-remount; "
                             "mkdir -p /tmp/cg && { mount -t cgroup2 none /tmp/cg || echo refused-mount; }; "
                             f"echo max > /proc/1/root{cg}/memory.max || echo refused-proc1; "
                             "nsenter -t 1 -m true || echo refused-nsenter; "
                             "id -u; echo ok > result")
    r = sweep(kernel, suite, shared_tmp / "out", "--protect-limits")
    assert r.returncode == 0, r.stderr
    (rec,) = records(shared_tmp / "out")
    text = (next((shared_tmp / "out" / "logs").iterdir()) / "agent.log").read_text()
    for word in ("refused-max", "refused-move", "refused-remount", "refused-mount", "refused-proc1",
                 "refused-nsenter"):
        assert word in text, (word, text)
    assert "\n0\n" in text  # still root
    assert rec["outcome"] == "passed" and rec["limits_changed"] == {} and rec["escaped_processes_killed"] == 0
    assert rec["limits"]["memory.max"] == str(32 << 20)


def test_agent_sees_no_verifier_or_solution_and_its_edits_do_not_reach_the_verifier(kernel, shared_tmp):
    """Item 5: the verifier ran in place from the suite; an agent could edit it and read
    solution/."""
    suite = shared_tmp / "suite"
    write_task(suite, "peek", "true", "test -f result")
    agent = ("sh -c 'test -e $HARNESS_TASK_DIR/tests && echo saw-tests; "
             "test -e $HARNESS_TASK_DIR/solution && echo saw-solution; "
             "test -f $HARNESS_TASK_DIR/instruction.md && echo saw-instruction; "
             "mkdir -p $HARNESS_TASK_DIR/tests; echo \"exit 0\" > $HARNESS_TASK_DIR/tests/test.sh'")
    r = sweep(kernel, suite, shared_tmp / "out", "--agent", agent)
    assert r.returncode == 0, r.stderr
    (rec,) = records(shared_tmp / "out")
    text = next((shared_tmp / "out" / "logs").iterdir()).joinpath("agent.log").read_text()
    assert "saw-instruction" in text and "saw-tests" not in text and "saw-solution" not in text, text
    assert rec["outcome"] == "failed", rec  # its own "tests" did not judge it
    assert (suite / "peek" / "tests" / "test.sh").read_text() == "#!/bin/bash\ntest -f result\n"


def test_an_agent_that_edits_the_suite_is_caught(kernel, shared_tmp):
    """Item 5: a root agent can still write the suite itself (its path is no secret):
    the verifier copy no longer matches, so the trial is not judged, and the sweep ends
    saying the suite changed."""
    suite = shared_tmp / "suite"
    write_task(suite, "cheat", f"echo 'exit 0' > {suite}/cheat/tests/test.sh", "test -f result")
    out = shared_tmp / "out"
    r = kernel.harness("sweep", str(suite), "--out", str(out), "--profiles", "1x", "--repeats", "2",
                       "--seed", "1", env=ENV)
    assert r.returncode == 125 and "changed during the sweep" in r.stderr, r.stderr
    recs = records(out)
    assert len(recs) == 2
    assert all(x["outcome"] == "infra_error" and x["infra_reason"] == "task_tampered" for x in recs), recs
    m = json.loads((out / "manifest.json").read_text())
    assert m["suite"]["changed_during_sweep"] is True


def test_a_flood_of_output_is_capped_head_and_tail_kept(kernel, shared_tmp):
    """Item 6: 100 MB on stdout gave a 96 MB log."""
    suite = shared_tmp / "suite"
    write_task(suite, "flood", "echo FIRST; head -c 20000000 /dev/zero | tr '\\0' a; echo; echo LAST; "
                               "echo ok > result")
    r = sweep(kernel, suite, shared_tmp / "out", "--log-cap", "1M")
    assert r.returncode == 0, r.stderr
    (rec,) = records(shared_tmp / "out")
    log = next((shared_tmp / "out" / "logs").iterdir()) / "agent.log"
    size = log.stat().st_size
    assert (1 << 20) <= size < (1 << 20) + 200, size
    text = log.read_bytes()
    assert text.startswith(b"FIRST\n") and text.endswith(b"LAST\n")
    assert rec["logs"]["agent"]["bytes"] > 20_000_000
    assert rec["logs"]["agent"]["cut_bytes"] == rec["logs"]["agent"]["bytes"] - (1 << 20)
    assert b"bytes of output cut here" in text
    assert rec["outcome"] == "passed"


def test_the_agent_gets_an_explicit_environment_and_names_are_recorded(kernel, shared_tmp):
    """Also: agents inherited the harness's environment, API keys included."""
    suite = shared_tmp / "suite"
    write_task(suite, "env", 'echo "key=${SECRET_TOKEN:-unset} other=${OTHER_SECRET:-unset}"; '
                             "echo ok > result")
    secrets = {"SECRET_TOKEN": "tok-123", "OTHER_SECRET": "s3cr3t"}
    r = sweep(kernel, suite, shared_tmp / "a", env=secrets)
    assert r.returncode == 0, r.stderr
    r = sweep(kernel, suite, shared_tmp / "b", "--pass-env", "SECRET_TOKEN", env=secrets)
    assert r.returncode == 0, r.stderr
    logs = {d: next((shared_tmp / d / "logs").iterdir()).joinpath("agent.log").read_text() for d in "ab"}
    assert "key=unset other=unset" in logs["a"]
    assert "key=tok-123 other=unset" in logs["b"]
    (a,), (b,) = records(shared_tmp / "a"), records(shared_tmp / "b")
    assert "SECRET_TOKEN" not in a["env_names"] and "SECRET_TOKEN" in b["env_names"]
    for d in "ab":  # names only: no value anywhere in the records or the manifest
        for f in ("trials.jsonl", "manifest.json"):
            assert "tok-123" not in (shared_tmp / d / f).read_text()
    assert json.loads((shared_tmp / "b" / "manifest.json").read_text())["settings"]["pass_env"] == [
        "SECRET_TOKEN"]


def test_an_agent_out_of_time_is_a_timeout_even_if_its_work_passes(kernel, shared_tmp):
    """Also: the time limit is part of the configuration."""
    suite = shared_tmp / "suite"
    write_task(suite, "late", "echo ok > result; sleep 30", "test -f result", agent_timeout=1)
    r = sweep(kernel, suite, shared_tmp / "out")
    assert r.returncode == 0, r.stderr
    (rec,) = records(shared_tmp / "out")
    assert rec["outcome"] == "timeout" and rec["agent_outcome"] == "timeout", rec
    assert rec["verifier"]["passed"] is True


def test_huge_finite_timeouts_work(kernel, shared_tmp):
    """Item 8: --timeout 3000000 and timeout_sec = 1e12 raised OverflowError (poll)."""
    r = kernel.harness("run", "--timeout", "3000000", "--", "true", env=ENV)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    suite = shared_tmp / "suite"
    write_task(suite, "long", "echo ok > result", agent_timeout=1e12)
    r = sweep(kernel, suite, shared_tmp / "out")
    assert r.returncode == 0, r.stderr
    assert records(shared_tmp / "out")[0]["outcome"] == "passed"


def test_an_agent_that_kills_the_spawn_server_is_an_infra_error(kernel, shared_tmp):
    """The oracle's parent is the harness's spawn server; a root agent can kill it. Its own
    exit status (0, and a result the verifier would pass) dies with the server: an infra
    error, never a pass. The other task's trial gets a new server and passes."""
    suite = shared_tmp / "suite"
    write_task(suite, "parricide", "kill -9 $PPID; sleep 0.2; echo ok > result")
    write_task(suite, "calm", "echo ok > result")
    r = sweep(kernel, suite, shared_tmp / "out", "--repeats", "2")
    assert r.returncode == 0, r.stderr
    by_task: dict[str, list[tuple[str, str | None]]] = {}
    for rec in records(shared_tmp / "out"):
        by_task.setdefault(rec["task"], []).append((rec["outcome"], rec["infra_reason"]))
    assert by_task["parricide"] == [("infra_error", "harness_error")] * 2, by_task
    assert by_task["calm"] == [("passed", None)] * 2, by_task
