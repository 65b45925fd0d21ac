"""scripts/slurm_sweep.sh on a real single-node Slurm (scripts/slurm_cluster.sh), as users run it.

The cluster is started once per session on its own port and directory and stopped by PID
at the end. Where it cannot start these tests skip locally and FAIL under CI=true. Each
shard boots a user-mode Linux guest on a host without usable cgroup v2, so the sweeps are
tiny: the demo suite's fastest tasks, or tasks that only sleep (for stopping mid-trial).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import IN_CI, REPO, SHARED_TMP
from suites import write_task

pytestmark = pytest.mark.slurm

CLUSTER = REPO / "scripts" / "slurm_cluster.sh"
SWEEP = REPO / "scripts" / "slurm_sweep.sh"
WAIT = 600.0  # seconds a job may take before the test gives up


class Slurm:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def run(self, argv: list[str], cwd: Path | None = None,
            extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, cwd=cwd, env={**self.env, **(extra or {})}, capture_output=True,
                              text=True, timeout=120)

    def sweep(self, *args: str, cwd: Path, extra: dict[str, str] | None = None) -> str:
        """slurm_sweep.sh ARGS; the job id it prints."""
        p = self.run([str(SWEEP), *args], cwd=cwd, extra=extra)
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()

    def wait(self, job: str) -> None:
        deadline = time.monotonic() + WAIT
        while self.run(["squeue", "-h", "-j", job]).stdout.strip():
            assert time.monotonic() < deadline, f"job {job} still queued or running after {WAIT:.0f} s"
            time.sleep(0.5)

    def job(self, job: str) -> dict[str, str]:
        """`scontrol show job` of one job (or array task, JOB_I) as a dict."""
        out = self.run(["scontrol", "show", "job", job]).stdout
        return dict(re.findall(r"(\w+)=(\S*)", out))


@pytest.fixture(scope="session")
def slurm() -> Iterator[Slurm]:
    workdir = SHARED_TMP / "slurm-cluster"
    env = {**os.environ, "HARNESS_SLURM_DIR": str(workdir), "HARNESS_SLURM_PORT": "6917",
           "SLURM_CONF": str(workdir / "slurm.conf")}
    env.pop("SLURM_JOB_ID", None)
    p = subprocess.run(["bash", str(CLUSTER), "start"], env=env, capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        subprocess.run(["bash", str(CLUSTER), "stop"], env=env, capture_output=True, timeout=120)
        message = f"no live Slurm cluster: {CLUSTER.name} start failed:\n{p.stderr[-2000:]}"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    try:
        yield Slurm(env)
    finally:
        subprocess.run(["bash", str(CLUSTER), "stop"], env=env, capture_output=True, timeout=120)


@pytest.fixture
def harness_exe(shared_tmp: Path) -> Path:
    """A `harness` executable for this checkout (what a venv's bin/harness is to users)."""
    exe = shared_tmp / "bin" / "harness"
    exe.parent.mkdir()
    python = os.path.realpath(sys.executable)
    exe.write_text(f'#!/bin/sh\nPYTHONPATH={REPO} exec {python} -P -m harness "$@"\n')
    exe.chmod(0o755)
    return exe


def sleepy_suite(root: Path, seconds: int) -> Path:
    for name in ("a", "b", "c"):
        write_task(root, name, f"sleep {seconds}; echo ok > result")
    return root


def manifest(d: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((d / "manifest.json").read_text())


def trial_ids(d: Path) -> list[str]:
    lines = (d / "trials.jsonl").read_text().splitlines() if (d / "trials.jsonl").exists() else []
    return [json.loads(line)["trial_id"] for line in lines if line.strip()]


def report(*dirs: Path) -> dict:  # type: ignore[type-arg]
    p = subprocess.run([sys.executable, "-m", "harness", "report", "--json", *map(str, dirs)], cwd=REPO,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)["sweep"]  # type: ignore[no-any-return]


def log_of(prefix: Path, shard: int, job: str) -> str:
    return (prefix / "logs" / f"shard-{shard}-{job}.out").read_text()


def test_array_completes_and_reports_as_one_sweep(slurm: Slurm, harness_exe: Path, shared_tmp: Path) -> None:
    prefix = shared_tmp / "out"
    job = slurm.sweep("submit", str(REPO / "harness" / "demo_suite"), str(prefix), "--shards", "2",
                      "--repeats", "1", "--tasks", "steady,lean-solver", "--profiles", "1x,uncapped",
                      cwd=shared_tmp, extra={"HARNESS": str(harness_exe)})
    slurm.wait(job)
    plan = json.loads((prefix / "plan.json").read_text())
    for i in (1, 2):
        info = slurm.job(f"{job}_{i}")
        assert info["ExitCode"] == "0:0", (info, log_of(prefix, i, job))
        m = manifest(prefix / f"shard-{i}")
        assert m["shard"] == f"{i}/2" and m["seed"] == plan["seed"]
        assert m["finished_at"] is not None
        # Which harness ran is on record, not only its version.
        assert m["host"]["harness_path"] == str(REPO / "harness")
        # The guest promises its trials what the job was granted (the test bed's
        # DefMemPerCPU=1024 × 1 CPU), not three quarters of the host.
        if m["backend"] == "uml":
            assert m["host"]["memory_bytes"] <= 768 << 20 and m["host"]["cores"] == 1
    sweep = report(prefix / "shard-1", prefix / "shard-2")
    assert len(sweep["sweep_ids"]) == 1 and sweep["n_trials"] == 4 and sweep["n_tasks"] == 2
    # Slurm's output files are in OUT_PREFIX/logs, not where sbatch was called.
    assert not list(shared_tmp.glob("slurm-*.out"))
    assert sorted(p.name for p in (prefix / "logs").iterdir()) == [f"shard-1-{job}.out", f"shard-2-{job}.out"]


def test_scancel_leaves_a_resumable_shard_and_resubmitting_it_alone_resumes_the_plan(
        slurm: Slurm, harness_exe: Path, shared_tmp: Path) -> None:
    suite = sleepy_suite(shared_tmp / "suite", 4)
    prefix = shared_tmp / "out"
    env = {"HARNESS": str(harness_exe)}
    job = slurm.sweep("submit", str(suite), str(prefix), "--shards", "2", "--repeats", "2",
                      "--profiles", "1x", cwd=shared_tmp, extra=env)
    shard1 = prefix / "shard-1"
    deadline = time.monotonic() + WAIT
    while not trial_ids(shard1):  # cancel mid-sweep: one trial recorded, others to come
        assert time.monotonic() < deadline, log_of(prefix, 1, job)
        time.sleep(0.5)
    # As users type it: every process of the job is signalled, the guest included.
    assert slurm.run(["scancel", f"{job}_1"]).returncode == 0
    slurm.wait(job)
    log = log_of(prefix, 1, job)
    assert slurm.job(f"{job}_1")["ExitCode"] == "130:0", log
    assert "Traceback" not in log and "out of memory" not in log
    assert f"resume with: harness sweep --resume {shard1}" in log
    done_before = trial_ids(shard1)
    assert 1 <= len(done_before) < 3
    status = slurm.run([str(harness_exe), "shard", "status", str(prefix), "--pending"]).stdout.strip()
    assert status == "1"

    again = slurm.sweep("resubmit", str(prefix), cwd=shared_tmp, extra=env)
    assert again != job
    slurm.wait(again)
    info = slurm.job(f"{again}_1")
    assert info["ExitCode"] == "0:0", log_of(prefix, 1, again)
    assert info["ArrayTaskId"] == "1"
    m1, m2 = manifest(shard1), manifest(prefix / "shard-2")
    # The same plan: seed and shard count from plan.json, not from the new job's ids.
    assert m1["seed"] == m2["seed"] == json.loads((prefix / "plan.json").read_text())["seed"]
    assert m1["shard"] == "1/2" and m1["sweep_id"] == m2["sweep_id"]
    assert [inv["resumed"] for inv in m1["invocations"]] == [False, True]
    ids = trial_ids(shard1)
    assert ids[:len(done_before)] == done_before and len(ids) == len(set(ids)) == 3
    sweep = report(shard1, prefix / "shard-2")
    assert len(sweep["sweep_ids"]) == 1 and sweep["n_trials"] == 6


def test_a_time_limit_is_a_clean_stop(slurm: Slurm, harness_exe: Path, shared_tmp: Path) -> None:
    # One minute (Slurm's least); the script's --signal=B:TERM@120 asks for SIGTERM to the
    # harness alone at Slurm's first look, well before the sweep (9 trials of 8 s) can end.
    suite = sleepy_suite(shared_tmp / "suite", 8)
    prefix = shared_tmp / "out"
    job = slurm.sweep("submit", str(suite), str(prefix), "--shards", "1", "--repeats", "3",
                      "--profiles", "1x", cwd=shared_tmp,
                      extra={"HARNESS": str(harness_exe), "SBATCH_TIMELIMIT": "1"})
    slurm.wait(job)
    log = log_of(prefix, 1, job)
    assert slurm.job(f"{job}_1")["ExitCode"] == "130:0", log
    assert "Traceback" not in log
    assert f"resume with: harness sweep --resume {prefix / 'shard-1'}" in log
    assert len(trial_ids(prefix / "shard-1")) < 9
    assert manifest(prefix / "shard-1")["finished_at"] is None


def test_array_ids_are_not_the_plan(slurm: Slurm, harness_exe: Path, shared_tmp: Path) -> None:
    """Array ids from 0 and a count that differs from the plan's: task 0 is refused with the
    fix, task 1 runs shard 1 of the plan's 2 with the plan's seed."""
    prefix = shared_tmp / "out"
    prep = slurm.run([str(harness_exe), "shard", "prepare", str(REPO / "harness" / "demo_suite"), str(prefix),
                      "--shards", "2", "--seed", "11", "--repeats", "1", "--tasks", "steady",
                      "--profiles", "1x,uncapped"])
    assert prep.returncode == 0, prep.stderr
    p = slurm.run(["sbatch", "--parsable", "--array=0-1", f"--output={prefix}/logs/shard-%a-%A.out",
                   str(SWEEP), "run", str(prefix)], cwd=shared_tmp, extra={"HARNESS": str(harness_exe)})
    assert p.returncode == 0, p.stderr
    job = p.stdout.strip()
    slurm.wait(job)
    assert slurm.job(f"{job}_0")["ExitCode"] == "2:0"
    assert "shard 0 is not in this plan: its shards are 1 to 2" in log_of(prefix, 0, job)
    assert not (prefix / "shard-0").exists()
    assert slurm.job(f"{job}_1")["ExitCode"] == "0:0", log_of(prefix, 1, job)
    m = manifest(prefix / "shard-1")
    assert m["shard"] == "1/2" and m["seed"] == 11 and m["n_trials_planned"] == 1
