"""Bad input, tried as a hostile user would (issue 11): every case is refused with one clear
error and exit 2 (`harness run`: 125, as `docker run`), before a guest boots and before
anything is written. These run on the host: the refusals happen before any backend."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import REPO
from suites import write_task

PY = sys.executable


def harness(*args: str, cwd: Path | str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "harness", *args], capture_output=True, text=True,
                          cwd=cwd or REPO, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})


def one_clear_error(r: subprocess.CompletedProcess[str], status: int, *words: str) -> None:
    assert r.returncode == status, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("harness: error: "), r.stderr
    assert "fix:" in r.stderr, r.stderr
    for w in words:
        assert w in r.stderr, (w, r.stderr)


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    s = tmp_path / "suite"
    write_task(s, "a", "echo ok > result")
    return s


# -- item 3: an empty or zero value given on purpose is refused, never a silent default --

@pytest.mark.parametrize(("flag", "value", "words"), [
    ("--agent", "", ("--agent is empty",)),
    ("--agent", "   ", ("--agent is empty",)),
    ("--repeats", "0", ("--repeats 0",)),
    ("--concurrency", "0", ("--concurrency 0",)),
    ("--tasks", "", ("names no task",)),
    ("--tasks", ",", ("names no task",)),
])
def test_empty_or_zero_values_are_refused(suite, tmp_path, flag, value, words):
    out = tmp_path / "out"
    r = harness("sweep", str(suite), "--out", str(out), flag, value)
    one_clear_error(r, 2, *words)
    assert not out.exists()  # nothing written


# -- item 9: --out a file, under a file, unwritable --

def test_out_that_is_a_file_or_under_one_is_refused(suite, tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    one_clear_error(harness("sweep", str(suite), "--out", str(f)), 2, "is a file")
    one_clear_error(harness("sweep", str(suite), "--out", str(f / "sub" / "out")), 2, "is a file")
    assert f.read_text() == "x"


def test_out_inside_the_suite_is_refused(suite, tmp_path):
    """Every trial's task digest would change under it (each would be task_tampered)."""
    for inside in (suite / "results", suite / "a" / "results"):
        one_clear_error(harness("sweep", str(suite), "--out", str(inside)), 2, "inside the suite")
    one_clear_error(harness("sweep", str(suite), "--out", str(suite)), 2, "not empty")
    assert not (suite / "results").exists() and not (suite / "a" / "results").exists()


def test_out_unwritable_for_a_non_root_user_is_refused(suite, tmp_path):
    from harness.errors import UsageError
    from harness.sweep.outdir import check_new

    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    os.chmod(tmp_path, 0o755)
    shared = Path(tempfile.mkdtemp(dir="/var/tmp"))  # reachable by nobody, unlike pytest's /tmp
    os.chmod(shared, 0o755)
    (shared / "locked").mkdir(mode=0o555)
    pid = os.fork()
    if pid == 0:  # the child becomes nobody and asks, as a non-root harness would
        code = 3
        try:
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            for target in (locked / "out", shared / "locked" / "out"):
                try:
                    check_new(target)
                    code = 5
                    break
                except UsageError as e:
                    code = 0 if e.message.startswith("--out ") else 4
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    shutil.rmtree(shared)
    assert os.waitstatus_to_exitcode(status) == 0


def test_resume_of_a_file_or_a_directory_without_manifest_is_refused(tmp_path):
    one_clear_error(harness("sweep", "--resume", str(tmp_path)), 2, "no manifest.json")
    f = tmp_path / "f"
    f.write_text("x")
    one_clear_error(harness("sweep", "--resume", str(f)), 2, "no such directory")


# -- item 10: a hand-edited manifest --

def _manifest(tmp_path: Path, suite: Path) -> dict:
    """A whole manifest (the v1 fixture's, as this harness writes it) over ``suite``."""
    from harness.results.store import read_manifest

    m = read_manifest(Path(__file__).parent / "fixtures" / "results-v1").to_json()
    m["settings"]["suite"] = str(suite)
    m["finished_at"] = None
    return m


@pytest.mark.parametrize(("edit", "words"), [
    (lambda m: m["suite"].pop("checksum"), ("suite: lacks checksum",)),
    (lambda m: m["settings"].update(repeats="abc"), ("settings: repeats: 'abc' is not a int",)),
    (lambda m: m["settings"].update(repeats=0), ("settings: repeats: 0 is below 1",)),
    (lambda m: m["settings"].update(repeats=True), ("settings: repeats: True is not a int",)),
    (lambda m: m["settings"].update(pass_env="KEY"), ("settings: pass_env: 'KEY' is not a list",)),
    (lambda m: m["settings"].pop("seed"), ("settings: lacks seed",)),
    (lambda m: m["settings"]["profiles"][0].update(memory_multiplier="abc"),
     ("manifest.json", "real number")),
    (lambda m: m.pop("settings"), ("lacks settings",)),
])
def test_hand_edited_manifest_is_refused_on_resume(suite, tmp_path, edit, words):
    out = tmp_path / "out"
    out.mkdir()
    m = _manifest(tmp_path, suite)
    edit(m)
    (out / "manifest.json").write_text(json.dumps(m))
    one_clear_error(harness("sweep", "--resume", str(out)), 2, *words)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json"]  # not even a lock file


# -- items 8, 12: task.toml values TOML allows but no trial can run under --

@pytest.mark.parametrize(("table", "line", "words"), [
    ("agent", "timeout_sec = inf", ("timeout_sec: inf is not a finite number",)),
    ("verifier", "timeout_sec = nan", ("timeout_sec: nan",)),
    ("environment", "memory_mb = inf", ("memory_mb: inf is not a finite number",)),
    ("environment", "cpus = inf", ("cpus: inf is not a finite number",)),
    ("environment", "memory_mb = 0.0000001", ("below 4 MiB",)),
    ("environment", 'memory = "1K"', ("below 4 MiB",)),
    ("environment", "cpus = 1e300", ("kernel accepts",)),
])
def test_task_values_no_kernel_runs_are_refused_before_anything_is_written(tmp_path, table, line, words):
    s = tmp_path / "suite"
    d = write_task(s, "t", "true")
    (d / "task.toml").write_text(f"[{table}]\n{line}\n")
    out = tmp_path / "out"
    one_clear_error(harness("sweep", str(s), "--out", str(out)), 2, *words)
    assert not out.exists()


# -- items 11, 13: `harness run` flags outside what the kernel or a timeout can mean --

@pytest.mark.parametrize(("args", "words"), [
    (("--timeout", "0"), ("--timeout",)),
    (("--timeout", "-1"), ("--timeout",)),
    (("--timeout", "nan"), ("--timeout",)),
    (("--timeout", "inf"), ("--timeout",)),
    (("--grace", "-1"), ("--grace",)),
    (("--grace", "nan"), ("--grace",)),
    (("--cpu-limit", "99999999999"), ("kernel accepts",)),
    (("--cpus", "1", "--cpu-limit", "99999999999x"), ("kernel accepts",)),
    (("--pids-max", "99999999999999999999"), ("kernel accepts",)),
    (("--pids-max", "0"), ("kernel accepts",)),
    (("--memory-limit", "10"), ("below 4 MiB",)),
    (("--memory", "1G", "--memory-limit", "1e308x"), ()),
    (("--memory-limit", "99999999999999T"), ("kernel accepts",)),
])
def test_run_refuses_what_the_kernel_would_or_a_timeout_cannot_mean(args, words):
    r = harness("run", *args, "--", "true")
    one_clear_error(r, 125, *words)


def test_sweep_profiles_beyond_the_kernel_are_refused(suite, tmp_path):
    out = tmp_path / "out"
    s = tmp_path / "big"
    write_task(s, "many-cpus", "true", cpus=100_000)
    r = harness("sweep", str(s), "--out", str(out), "--profiles", "1x,5000x")
    one_clear_error(r, 2, "kernel accepts")
    assert not out.exists()


# -- "Also": --pass-env names --

@pytest.mark.parametrize("value", ["", "A B", "1X", "HARNESS_TASK"])
def test_bad_pass_env_names_are_refused(suite, tmp_path, value):
    out = tmp_path / "out"
    one_clear_error(harness("sweep", str(suite), "--out", str(out), "--pass-env", value), 2, "--pass-env")
    assert not out.exists()


def test_unknown_agent_user_and_tiny_log_cap_are_refused(suite, tmp_path):
    out = tmp_path / "out"
    one_clear_error(harness("sweep", str(suite), "--out", str(out), "--agent-user", "no-such-user-x"),
                    2, "no such user")
    one_clear_error(harness("sweep", str(suite), "--out", str(out), "--log-cap", "10"), 2, "--log-cap")
    one_clear_error(harness("sweep", str(suite), "--out", str(out), "--protect-limits", "--agent-user",
                            "nobody"), 2, "--protect-limits and --agent-user")
    assert not out.exists()


# -- the small modules, directly --

def test_capped_log_keeps_head_and_tail_and_says_what_was_cut(tmp_path):
    from harness.runner.logcap import CappedLog

    log = CappedLog(tmp_path / "x.log", cap=8192)
    data = b"".join(b"%07d\n" % i for i in range(100_000))  # 800,000 bytes
    with os.fdopen(os.dup(log.write_fd), "wb") as w:
        w.write(data)
    summary = log.close()
    text = (tmp_path / "x.log").read_bytes()
    assert summary.bytes == len(data) and summary.cut_bytes == len(data) - 8192
    assert text.startswith(data[:4096]) and text.endswith(data[-4096:])
    assert b"[harness: %d bytes of output cut here" % summary.cut_bytes in text
    small = CappedLog(tmp_path / "y.log", cap=8192)
    with os.fdopen(os.dup(small.write_fd), "wb") as w:
        w.write(b"hello\n")
    assert small.close().cut_bytes == 0 and (tmp_path / "y.log").read_bytes() == b"hello\n"


def test_workload_env_is_explicit_and_records_names_only():
    from harness.sweep.agent_env import parse_pass_env, passed_names, workload_env

    source = {"PATH": "/bin", "OPENAI_API_KEY": "sk-secret", "AWS_SECRET": "x", "HOME": "/root"}
    hv = {"HARNESS_TASK": "t"}
    env = workload_env(source, [], hv)
    assert env == {"PATH": "/bin", "HOME": "/root", "HARNESS_TASK": "t"}
    env = workload_env(source, parse_pass_env(["OPENAI_API_KEY,MISSING"]), hv)
    assert env["OPENAI_API_KEY"] == "sk-secret" and "MISSING" not in env and "AWS_SECRET" not in env
    assert passed_names(env, hv) == ["HOME", "OPENAI_API_KEY", "PATH"]


def test_changed_limits_names_each_change():
    from harness.runner.tamper import changed_limits

    before = {"memory.max": "33554432", "pids.max": "4096"}
    assert changed_limits(before, dict(before)) == {}
    assert changed_limits(before, {"memory.max": "max", "pids.max": "4096"}) == {
        "memory.max": ["33554432", "max"]}


def test_the_report_shows_timeouts_whose_work_passed_and_a_suite_changed_mid_sweep(tmp_path):
    """Also (timeout policy) and item 5: both are visible in the report, not only on disk."""
    from helpers_results import manifest, trial, write_sweep

    from harness.report.build import build_report
    from harness.report.load import load_dirs

    recs = [trial(t, p, m, 0, "passed") for t in ("a", "b", "c") for p, m in (("1x", 1.0), ("2x", 2.0))]
    late = trial("d", "1x", 1.0, 0, "timeout")
    late["verifier"] = {"passed": True}
    recs += [late, trial("d", "2x", 2.0, 0, "passed")]
    suite = {**manifest([], [])["suite"], "changed_during_sweep": True}
    d = write_sweep(tmp_path / "r", recs, suite=suite)
    doc = build_report(load_dirs([d]))
    assert any("1 trial(s) timed out with work that passes" in w for w in doc.warnings), doc.warnings
    assert any("suite changed during the sweep" in w for w in doc.warnings), doc.warnings


def test_task_digest_sees_through_links_and_matches_its_copy(tmp_path):
    """The verifier copy is checked against the suite: an edit behind a symlink counts."""
    from harness.suite.task_copy import copy_task, task_digest

    outside = tmp_path / "outside.sh"
    outside.write_text("exit 1\n")
    suite = tmp_path / "suite"
    d = write_task(suite, "t", "true")
    (d / "tests" / "helper.sh").symlink_to(outside)
    (suite / "_shared").mkdir()
    (suite / "_shared" / "lib.sh").write_text("x\n")
    before = task_digest(d, shared=True)
    copy = copy_task(suite, d, tmp_path / "copy", parts=None)
    assert task_digest(copy, shared=True) == before
    assert (tmp_path / "copy" / "_shared" / "lib.sh").exists()
    agent = copy_task(suite, d, tmp_path / "agent", parts=("instruction.md", "task.toml", "environment"))
    assert sorted(p.name for p in agent.iterdir()) == ["instruction.md", "task.toml"]
    outside.write_text("exit 0\n")
    assert task_digest(d, shared=True) != before


@pytest.mark.parametrize("flag", [("--protect-limits",), ("--agent-user", "root")])
def test_confining_the_agent_is_refused_with_container_trials(suite, tmp_path, flag):
    """--protect-limits drops CAP_SYS_ADMIN, which rootful podman needs: refused, not half-applied."""
    out = tmp_path / "out"
    one_clear_error(harness("sweep", str(suite), "--out", str(out), "--environment", "podman", *flag),
                    2, f"{flag[0]} cannot be combined with --environment podman")
    assert not out.exists()
