"""Fault injection, on every run (issue 11): the classes of fault a sweep meets, each tried
at each phase, with one rule checked after each: nothing finished is lost, nothing is
recorded twice or wrong, nothing is left running, and the error is one clear line.

- a signal (SIGKILL, SIGTERM) in the agent phase, the verifier phase and right after a
  record, of a sweep and of its resume;
- the UML guest killed under a `--backend uml` sweep at each of those phases;
- a full disk at each write (manifest, logs, trials.jsonl), on a tiny tmpfs in the guest;
- a second harness on the same directory;
- a workload that tampers with its cgroup, its verifier or its logs (tests/test_kernel_hostile.py
  has one test per tamper; here they run together in one sweep beside honest trials).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, SHARED_TMP
from suites import write_task

ENV = {"PYTHONPATH": str(REPO)}
PHASES = {
    "agent": "ls {marks}/agent.* >/dev/null 2>&1",
    "verifier": "ls {marks}/verifier.* >/dev/null 2>&1",
    "recorded": "[ \"$(cat {out}/trials.jsonl 2>/dev/null | wc -l)\" -gt {before} ]",
}


def records(out: Path) -> list[dict]:
    path = out / "trials.jsonl"
    if not path.exists():
        return []
    text = path.read_bytes()
    assert not text or text.endswith(b"\n"), "a partial line was left behind"
    return [json.loads(line) for line in text.decode().splitlines() if line]


def phased_suite(root: Path, marks: Path, n_tasks: int = 2) -> Path:
    """Tasks whose agent and verifier each leave a mark, then take a moment."""
    suite = root / "suite"
    for i in range(n_tasks):
        write_task(suite, f"t{i}", f"touch {marks}/agent.$$; sleep 0.4; echo ok > result",
                   f"touch {marks}/verifier.$$; sleep 0.4; test -f result")
    return suite


def assert_complete_and_clean(kernel, out: Path, planned: int) -> None:
    recs = records(out)
    ids = [r["trial_id"] for r in recs]
    assert len(ids) == planned and len(set(ids)) == planned, ids  # every trial once, none twice
    assert all(r["outcome"] == "passed" for r in recs), [(r["trial_id"], r["outcome"]) for r in recs]
    left = kernel.sh("ls -d /sys/fs/cgroup/harness/sweep-* 2>/dev/null | wc -l")
    assert left.stdout.strip() == "0", "trial cgroups were left behind"
    assert json.loads((out / "manifest.json").read_text())["finished_at"]


@pytest.mark.parametrize("sig", ["KILL", "TERM"])
@pytest.mark.parametrize("phase", list(PHASES))
def test_a_signal_at_each_phase_of_a_sweep_and_of_its_resume(kernel, shared_tmp, phase, sig):
    marks = shared_tmp / "marks"
    marks.mkdir()
    suite = phased_suite(shared_tmp, marks)
    out = shared_tmp / "out"
    h = f"{kernel.python} -m harness"
    for run, cmd in enumerate((f"{h} sweep {suite} --out {out} --profiles 1x --repeats 2 --seed 3",
                               f"{h} sweep --resume {out}")):
        before = len(records(out))
        wait = PHASES[phase].format(marks=marks, out=out, before=before)
        subprocess_rm = f"rm -f {marks}/*"
        r = kernel.sh(f"{subprocess_rm}; {cmd} 2>{shared_tmp}/err{run} & pid=$!; "
                      f"n=0; until {wait} && [ $(cat {out}/trials.jsonl 2>/dev/null | wc -l) -ge {before} ] "
                      f"|| [ $n -gt 900 ]; do sleep 0.05; n=$((n+1)); done; "
                      f"kill -{sig} $pid; wait $pid; echo status=$?", env=ENV, timeout=240)
        status = int(r.stdout.split("status=")[1].split()[0])
        err = (shared_tmp / f"err{run}").read_text()
        if sig == "TERM" and status == 143:  # before Python installed its handler: nothing begun
            assert len(records(out)) == before and "Traceback" not in err, err
        elif sig == "TERM" and status != 0:  # (it may have finished first: 4 short trials)
            assert status == 130 and "harness sweep --resume" in err and "Traceback" not in err, err
        else:
            assert status in (0, 137), (status, err)
        recs = records(out)
        assert len({x["trial_id"] for x in recs}) == len(recs) >= before  # nothing lost or doubled
    r = kernel.harness("sweep", "--resume", str(out), env=ENV)
    if r.returncode == 2 and "finished sweep" in r.stderr:
        pass  # the resume under test had already finished it
    else:
        assert r.returncode == 0, r.stderr
    assert_complete_and_clean(kernel, out, planned=4)


def _guest_pids(parent: int) -> list[int]:
    """The linux.uml processes a harness started (each leads its own process group)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            exe = os.readlink(f"/proc/{entry}/exe")
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[1]) == parent and exe.endswith("linux.uml"):
            found.append(int(entry))
    return found


@pytest.mark.parametrize("phase", list(PHASES))
def test_the_guest_killed_at_each_phase_is_a_clear_error_and_resumes(uml_kernel, kernel, phase):
    """Item 7: the host harness raised UmlError with a traceback and exit 1."""
    SHARED_TMP.mkdir(parents=True, exist_ok=True)
    root = SHARED_TMP / f"guest-kill-{phase}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    marks = root / "marks"
    marks.mkdir(parents=True)
    suite = phased_suite(root, marks)
    out = root / "out"
    p = subprocess.Popen([sys.executable, "-m", "harness", "sweep", str(suite), "--out", str(out),
                          "--profiles", "1x", "--repeats", "2", "--seed", "3", "--backend", "uml"],
                         cwd=REPO, env={**os.environ, **ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and p.poll() is None:
            if phase == "recorded" and records(out):
                break
            if phase != "recorded" and any(m.name.startswith(phase + ".") for m in marks.iterdir()):
                break
            time.sleep(0.05)
        guests = _guest_pids(p.pid)
        assert guests, "no guest found under the sweep"
        for g in guests:
            os.killpg(g, signal.SIGKILL)
        _, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 125, err
    assert "Traceback" not in err and f"harness sweep --resume {out}" in err, err
    before = records(out)
    r = kernel.harness("sweep", "--resume", str(out), env=ENV)
    assert r.returncode == 0, r.stderr
    assert_complete_and_clean(kernel, out, planned=4)
    assert [x["trial_id"] for x in records(out)][: len(before)] == [x["trial_id"] for x in before]
    subprocess.run(["rm", "-rf", str(root)], check=False)


@pytest.mark.parametrize(("size", "flood"), [("8k", 0), ("64k", 0), ("96k", 400_000)])
def test_a_full_disk_at_each_write_keeps_whole_lines_and_resumes(kernel, shared_tmp, size, flood):
    """A tmpfs of ``size`` in the guest: too small for the manifest (8k), for some trials'
    logs and records (64k), or flooded by one agent's output (96k)."""
    suite = shared_tmp / "suite"
    for i in range(3):
        out_cmd = f"head -c {flood} /dev/zero | tr '\\0' x; " if flood and i == 0 else ""
        write_task(suite, f"t{i}", f"{out_cmd}echo ok > result; printf '%2000s' pad")
    disk = shared_tmp / "disk"
    disk.mkdir()
    out = disk / "out"
    h = f"{kernel.python} -m harness sweep"
    r = kernel.sh(f"mount -t tmpfs -o size={size} tmpfs {disk} && "
                  f"{h} {suite} --out {out} --profiles 1x --repeats 2 --seed 1 --log-cap 16k; "
                  f"echo status=$?; "
                  # keep what the small disk holds, then let the same directory grow and resume
                  f"mkdir -p {shared_tmp}/keep; cp -a {out}/. {shared_tmp}/keep/ 2>/dev/null; "
                  f"mount -o remount,size=64m {disk}; "
                  f"{h} --resume {out}; echo resumed=$?; "
                  f"cp -a {out}/. {shared_tmp}/final/ 2>/dev/null || (mkdir -p {shared_tmp}/final && "
                  f"cp -a {out}/. {shared_tmp}/final/); umount {disk}", env=ENV, timeout=300)
    status = int(r.stdout.split("status=")[1].split()[0])
    assert "Traceback" not in r.stderr, r.stderr
    assert status == 125, r.stdout + r.stderr  # each size fills the disk at some write
    assert f"resume with: harness sweep --resume {out}" in r.stderr
    keep = shared_tmp / "keep"
    if (keep / "manifest.json").exists():
        resumed = int(r.stdout.split("resumed=")[1].split()[0])
        assert resumed == 0, r.stdout + r.stderr
        kept = records(keep)  # whole lines only, and none of them lost by the resume
        final = records(shared_tmp / "final")
        ids = [x["trial_id"] for x in final]
        assert len(ids) == 6 == len(set(ids))
        assert ids[: len(kept)] == [x["trial_id"] for x in kept]
        assert all(x["outcome"] == "passed" for x in final), [(x["outcome"], x["error"]) for x in final]
    else:  # the manifest itself did not fit: refused before any trial ran
        assert status != 0 and not records(keep)


def test_a_second_harness_on_a_running_sweep_is_refused_and_harmless(kernel, shared_tmp):
    marks = shared_tmp / "marks"
    marks.mkdir()
    # The agents hold the sweep until both second harnesses have been refused (a fixed
    # sleep raced them on a loaded machine: the sweep could finish first).
    suite = shared_tmp / "suite"
    write_task(suite, "t0", f"touch {marks}/agent.$$; n=0; until [ -f {marks}/release ] || [ $n -gt 1200 ]; "
                            "do sleep 0.05; n=$((n+1)); done; echo ok > result", "test -f result")
    out = shared_tmp / "out"
    h = f"{kernel.python} -m harness sweep"
    r = kernel.sh(f"{h} {suite} --out {out} --profiles 1x --repeats 2 --seed 1 2>/dev/null & pid=$!; "
                  f"n=0; until ls {marks}/agent.* >/dev/null 2>&1 || [ $n -gt 900 ]; do sleep 0.05; "
                  f"n=$((n+1)); done; "
                  f"{h} {suite} --out {out} --profiles 1x 2>{shared_tmp}/new.err; echo new=$?; "
                  f"{h} --resume {out} 2>{shared_tmp}/resume.err; echo resume=$?; "
                  f"touch {marks}/release; wait $pid; echo first=$?", env=ENV, timeout=240)
    assert "new=2" in r.stdout and "resume=2" in r.stdout and "first=0" in r.stdout, r.stdout
    assert "already holds a started sweep" in (shared_tmp / "new.err").read_text()
    assert "another harness" in (shared_tmp / "resume.err").read_text()
    assert_complete_and_clean(kernel, out, planned=2)


def test_tampering_trials_beside_honest_ones(kernel, shared_tmp):
    """Tamperers are infra errors with their own reasons; honest trials next to them pass;
    a trial cannot write another trial's verdict (the reward file is the verifier's)."""
    suite = shared_tmp / "suite"
    cg = "/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)"
    write_task(suite, "honest", "echo ok > result")
    write_task(suite, "limits", f"echo 5000 > {cg}/pids.max; echo ok > result")
    write_task(suite, "escape", "sh -c 'echo $$ > /sys/fs/cgroup/cgroup.procs; exec sleep 4244' & "
                                "sleep 0.3; echo ok > result")
    # guesses where a reward file might be and writes 1 everywhere it can
    write_task(suite, "reward", f"find {shared_tmp}/out -name 'reward*' -exec sh -c 'echo 1 > $0' {{}} \\; ; "
                                "echo 1 > \"${HARNESS_REWARD_FILE:-/dev/null}\"", "test -f result")
    out = shared_tmp / "out"
    r = kernel.harness("sweep", str(suite), "--out", str(out), "--profiles", "1x", "--repeats", "1",
                       "--seed", "2", "--concurrency", "2", env=ENV)
    assert r.returncode == 0, r.stderr
    by = {x["task"]: x for x in records(out)}
    assert by["honest"]["outcome"] == "passed"
    assert (by["limits"]["outcome"], by["limits"]["infra_reason"]) == ("infra_error", "limits_tampered")
    assert (by["escape"]["outcome"], by["escape"]["infra_reason"]) == ("infra_error", "escaped")
    assert by["reward"]["outcome"] == "failed" and by["reward"]["verifier"]["reward"] is None
