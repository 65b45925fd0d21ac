"""`harness sweep` against a real cgroup-v2 kernel: outcomes, crash safety, resume, shards."""

from __future__ import annotations

import json
import os
from collections import Counter

from conftest import REPO
from suites import spike_suite, write_task

from harness.schema.record import INFRA_REASONS, OUTCOMES, SCHEMA_VERSION, SWEEP_FIELDS, TrialRecord


def records(out):
    return [json.loads(line) for line in (out / "trials.jsonl").read_text().splitlines() if line]


def test_spike_is_an_infra_error_at_1x_and_passes_at_3x(kernel, shared_tmp):
    suite = spike_suite(shared_tmp)
    out = shared_tmp / "out"
    r = kernel.harness("sweep", str(suite), "--out", str(out), "--profiles", "1x,3x", "--repeats", "1",
                       "--seed", "1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(out)
    by = {(x["task"], x["profile"]): x for x in records(out)}
    assert len(by) == 4
    for rec in by.values():  # the shared schema of harness/schema/record.py
        assert set(SWEEP_FIELDS) <= set(rec) and rec["schema"] == SCHEMA_VERSION
        assert TrialRecord.from_json(rec, "trials.jsonl").to_json() == rec
        assert rec["outcome"] in OUTCOMES and rec["infra_reason"] in (None, *INFRA_REASONS)
    spike_1x = by[("spike", "1x")]
    assert spike_1x["outcome"] == "infra_error" and spike_1x["infra_reason"] == "oom_kill"
    assert spike_1x["memory_events"]["oom_kill"] >= 1
    assert by[("spike", "3x")]["outcome"] == "passed"
    assert by[("calm", "1x")]["outcome"] == "passed" and by[("calm", "3x")]["outcome"] == "passed"
    # the verifier ran in its own cgroup, without the profile's limits
    assert by[("spike", "3x")]["verifier"]["outcome"] == "passed"
    m = json.loads((out / "manifest.json").read_text())
    assert m["finished_at"] and m["seed"] == 1 and m["n_trials_planned"] == 4
    assert m["cgroup_files"]["1x"]["32M/1cpu"]["memory.max"] == str(32 << 20)
    assert m["cgroup_files"]["3x"]["32M/1cpu"]["memory.max"] == str(96 << 20)
    assert m["cgroup_files"]["3x"]["32M/1cpu"]["memory.low"] == str(32 << 20)
    assert m["host"]["cgroup_layout"] == "v2"
    # a finished sweep is never overwritten
    again = kernel.harness("sweep", str(suite), "--out", str(out), "--profiles", "1x")
    assert again.returncode == 2 and "already holds a finished sweep" in again.stderr


def test_sigkill_midway_then_resume_runs_exactly_the_missing_trials(kernel, shared_tmp):
    suite = shared_tmp / "suite"
    for name in ("a", "b", "c"):
        # long enough that the kill lands in an agent phase even on a loaded machine
        write_task(suite, name, "sleep 1.5; echo ok > result")
    out = shared_tmp / "out"
    trials = out / "trials.jsonl"
    sweep = (f"{kernel.python} -m harness sweep {suite} --out {out} --profiles 1x,3x --repeats 2 --seed 5")
    # Kill -9 the sweep once 3 trials are on disk, while the 4th is running.
    killed = kernel.sh(
        f"{sweep} 2>/dev/null & pid=$!; "
        f"n=0; while [ \"$(cat {trials} 2>/dev/null | wc -l)\" -lt 3 ] && [ $n -lt 1200 ]; "
        f"do sleep 0.05; n=$((n+1)); done; sleep 0.3; "
        f"kill -9 $pid; wait $pid; echo status=$?", timeout=240)
    assert "status=137" in killed.stdout, killed.stdout + killed.stderr
    before = records(out)
    assert 3 <= len(before) < 12
    # the killed sweep left its running trial behind: a cgroup with a live process
    left = kernel.sh("cat /sys/fs/cgroup/harness/sweep-*/*/cgroup.procs 2>/dev/null | wc -l")
    assert int(left.stdout.strip() or 0) >= 1
    r = kernel.harness("sweep", "--resume", str(out))
    assert r.returncode == 0, r.stderr
    after = records(out)
    ids = [x["trial_id"] for x in after]
    assert len(ids) == 12 and len(set(ids)) == 12  # every trial once, none twice
    assert ids[: len(before)] == [x["trial_id"] for x in before]  # nothing lost or rewritten
    assert all(x["outcome"] == "passed" for x in after)
    gone = kernel.sh("ls -d /sys/fs/cgroup/harness/sweep-* 2>/dev/null | wc -l")
    assert gone.stdout.strip() == "0"
    m = json.loads((out / "manifest.json").read_text())
    assert m["finished_at"] and len(m["invocations"]) == 2 and m["invocations"][1]["resumed"]


def test_shards_cover_every_trial_once(kernel, shared_tmp):
    suite = shared_tmp / "suite"
    for name in ("a", "b", "c"):
        write_task(suite, name, "echo ok > result")
    ids = Counter()
    sweep_ids = set()
    for i in (1, 2):
        out = shared_tmp / f"shard{i}"
        r = kernel.harness("sweep", str(suite), "--out", str(out), "--profiles", "1x,2x", "--repeats", "2",
                           "--seed", "9", "--shard", f"{i}/2")
        assert r.returncode == 0, r.stderr
        ids.update(x["trial_id"] for x in records(out))
        sweep_ids.add(json.loads((out / "manifest.json").read_text())["sweep_id"])
    assert len(ids) == 3 * 2 * 2 and set(ids.values()) == {1}
    assert len(sweep_ids) == 1  # shards of one plan are one sweep


def test_bad_suite_is_refused_before_anything_runs(kernel, shared_tmp):
    suite = shared_tmp / "suite"
    write_task(suite, "ok", "true")
    write_task(suite, "bad-mem", "true", memory='memory = "lots"')
    write_task(suite, "bad-cpu", "true", cpus="'many'")  # type: ignore[arg-type]
    (suite / "no-tests").mkdir()
    (suite / "no-tests" / "task.toml").write_text("[environment]\ncpus = 1\n")
    out = shared_tmp / "out"
    r = kernel.harness("sweep", str(suite), "--out", str(out))
    assert r.returncode == 2
    for needle in ("bad-mem", "lots", "bad-cpu", "no-tests"):
        assert needle in r.stderr, r.stderr
    assert not out.exists()  # nothing written


def test_slurm_array_script_runs_and_resumes_shards(kernel, shared_tmp):
    """The array task side of scripts/slurm_sweep.sh (no Slurm; tests/test_slurm_live.py has
    one): the seed and shard count are the plan's, whatever the array's ids and count."""
    suite = shared_tmp / "suite"
    for name in ("a", "b"):
        write_task(suite, name, "echo ok > result")
    exe = shared_tmp / "harness"
    python = os.path.realpath(kernel.python)
    exe.write_text(f'#!/bin/sh\nPYTHONPATH={REPO} exec {python} -P -m harness "$@"\n')
    exe.chmod(0o755)
    prefix = shared_tmp / "out"
    r = kernel.run([str(exe), "shard", "prepare", str(suite), str(prefix), "--shards", "2", "--seed", "4242",
                    "--profiles", "1x,3x", "--repeats", "1"])
    assert r.returncode == 0, r.stderr
    script = str(REPO / "scripts" / "slurm_sweep.sh")
    # A resubmission's ids: a count of 1 and a new job id, which must change nothing.
    env = {"SLURM_ARRAY_TASK_COUNT": "1", "SLURM_ARRAY_JOB_ID": "77", "HARNESS": str(exe),
           "HARNESS_BACKEND": "native"}
    ids = Counter()
    for i in ("1", "2"):
        r = kernel.run(["bash", script, "run", str(prefix)], env={**env, "SLURM_ARRAY_TASK_ID": i})
        assert r.returncode == 0, r.stderr
        recs = records(prefix / f"shard-{i}")
        ids.update(x["trial_id"] for x in recs)
        m = json.loads((prefix / f"shard-{i}" / "manifest.json").read_text())
        assert m["seed"] == 4242 and m["shard"] == f"{i}/2"
    assert len(ids) == 4 and set(ids.values()) == {1}
    # resubmitting a finished task does nothing, and says so: nothing runs twice
    before = records(prefix / "shard-1")
    r = kernel.run(["bash", script, "run", str(prefix)], env={**env, "SLURM_ARRAY_TASK_ID": "1"})
    assert r.returncode == 0 and "finished; nothing to do" in r.stderr, r.stderr
    assert records(prefix / "shard-1") == before


def test_shard_without_seed_is_refused(kernel, shared_tmp):
    suite = shared_tmp / "suite"
    write_task(suite, "a", "true")
    r = kernel.harness("sweep", str(suite), "--out", str(shared_tmp / "o"), "--shard", "1/2")
    assert r.returncode == 2 and "--seed" in r.stderr


def test_sigterm_stops_cleanly_says_how_to_resume_and_resumes(kernel, shared_tmp):
    suite = shared_tmp / "suite"
    for name in ("a", "b"):
        write_task(suite, name, "sleep 1; echo ok > result")
    out = shared_tmp / "out"
    trials = out / "trials.jsonl"
    r = kernel.sh(
        f"{kernel.python} -m harness sweep {suite} --out {out} --profiles 1x,3x --repeats 2 --seed 3 "
        f"2> {shared_tmp}/err & pid=$!; n=0; "
        f"while [ \"$(cat {trials} 2>/dev/null | wc -l)\" -lt 2 ] && [ $n -lt 600 ]; "
        f"do sleep 0.05; n=$((n+1)); done; "
        f"sleep 0.3; kill -TERM $pid; wait $pid; echo status=$?", timeout=240)
    err = (shared_tmp / "err").read_text()
    assert "status=130" in r.stdout, r.stdout + err
    assert f"harness sweep --resume {out}" in err
    done = records(out)
    assert 2 <= len(done) < 8
    # the interrupted trial was killed and not recorded; nothing of it is left running
    left = kernel.sh("cat /sys/fs/cgroup/harness/sweep-*/*/cgroup.procs 2>/dev/null | wc -l")
    assert left.stdout.strip() == "0"
    assert json.loads((out / "manifest.json").read_text())["finished_at"] is None
    r = kernel.harness("sweep", "--resume", str(out))
    assert r.returncode == 0, r.stderr
    ids = [x["trial_id"] for x in records(out)]
    assert len(ids) == 8 and len(set(ids)) == 8


def test_agent_template_and_reward_file_decide(kernel, shared_tmp):
    suite = shared_tmp / "suite"
    # The reward file overrides the verifier's exit status: "0" fails a run that exits 0,
    # "1" passes one that exits 1. Without a reward file the exit status decides.
    write_task(suite, "reward-zero", "true", test='echo 0 > "$HARNESS_REWARD_FILE"; exit 0')
    write_task(suite, "reward-one", "true", test='echo 1 > "$HARNESS_REWARD_FILE"; exit 1')
    write_task(suite, "by-status", "true", test='grep -qx "by-status" result')
    out = shared_tmp / "out"
    agent = "sh -c 'echo {task} > {workdir}/result; test -f {instruction}'"
    r = kernel.harness("sweep", str(suite), "--out", str(out), "--profiles", "1x", "--repeats", "1",
                       "--seed", "2", "--agent", agent)
    assert r.returncode == 0, r.stderr
    by = {x["task"]: x for x in records(out)}
    assert by["reward-zero"]["outcome"] == "failed" and by["reward-zero"]["verifier"]["reward"] == 0
    assert by["reward-one"]["outcome"] == "passed" and by["reward-one"]["verifier"]["reward"] == 1
    assert by["by-status"]["outcome"] == "passed" and by["by-status"]["verifier"]["reward"] is None
    assert by["by-status"]["command"][:2] == ["sh", "-c"]  # the template, expanded
    assert json.loads((out / "manifest.json").read_text())["agent"] == agent
    bad = kernel.harness("sweep", str(suite), "--out", str(shared_tmp / "o2"), "--agent", "run {nope}")
    assert bad.returncode == 2 and "placeholder" in bad.stderr


def test_two_harnesses_cannot_run_one_sweep_directory(kernel, shared_tmp):
    suite = shared_tmp / "suite"
    write_task(suite, "slow", "sleep 2; echo ok > result")
    out = shared_tmp / "out"
    r = kernel.sh(
        f"{kernel.python} -m harness sweep {suite} --out {out} --profiles 1x --repeats 2 --seed 1 "
        f"> /dev/null 2>&1 & n=0; while [ ! -s {out}/.harness.lock ] && [ $n -lt 600 ]; "
        f"do sleep 0.05; n=$((n+1)); done; "
        f"{kernel.python} -m harness sweep --resume {out}; echo status=$?; wait", timeout=240)
    assert "status=2" in r.stdout and "another harness" in r.stderr, r.stdout + r.stderr
    assert len(records(out)) == 2  # the first one finished its sweep undisturbed
