"""`harness shard`: the plan fixed once, and what every shard refuses; slurm_sweep.sh's refusals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REPO
from helpers_results import manifest
from suites import write_task

from harness.backends.guest_death import died, stopped
from harness.cli import main
from harness.errors import UsageError
from harness.sweep import shard_plan


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    root = tmp_path / "suite"
    for name in ("a", "b"):
        write_task(root, name, "echo ok > result")
    return root


def write_manifest(d: Path, *, finished: bool) -> None:
    doc = manifest(["a"], [("1x", 1.0)], finished_at="2026-11-28T09:00:00+00:00" if finished else None)
    d.mkdir(parents=True, exist_ok=True)
    (d / "manifest.json").write_text(json.dumps(doc))


def prepare(suite: Path, prefix: Path, *options: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, ["shard", "prepare", str(suite), str(prefix), *options])
    return r.exit_code, r.output


def test_prepare_fixes_the_plan_and_every_shard_follows_it(suite: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "out"
    code, out = prepare(suite, prefix, "--shards", "3", "--seed", "5", "--repeats", "1", "--profiles", "1x")
    assert code == 0, out
    plan = shard_plan.load(prefix)
    assert (plan.shards, plan.seed, plan.settings.repeats) == (3, 5, 1)
    assert [p.name for p in plan.settings.profiles] == ["1x"] and plan.settings.shard is None
    assert plan.suite == str(suite.resolve()) and len(plan.suite_checksum) == 64
    assert plan.harness_path == str(REPO / "harness")
    assert (prefix / "logs").is_dir()
    settings = shard_plan.shard_settings(plan, 2)
    assert (settings.suite, settings.shard, settings.seed, settings.repeats) == (suite.resolve(), "2/3", 5, 1)
    assert shard_plan.load(prefix) == plan  # plan.json round-trips
    # Once a shard wrote its manifest, it is started (running it again resumes it).
    write_manifest(prefix / "shard-2", finished=False)
    assert shard_plan.status(plan, prefix) == {1: "missing", 2: "started", 3: "missing"}
    r = CliRunner().invoke(main, ["shard", "status", str(prefix), "--pending"])
    assert r.exit_code == 0 and r.stdout.strip() == "1,2,3"


def test_a_random_seed_is_drawn_once_and_recorded(suite: Path, tmp_path: Path) -> None:
    assert prepare(suite, tmp_path / "out", "--shards", "2")[0] == 0
    plan = shard_plan.load(tmp_path / "out")
    assert shard_plan.shard_settings(plan, 1).seed == plan.seed == shard_plan.shard_settings(plan, 2).seed


@pytest.mark.parametrize("options, expected", [
    (["--shards", "2", "--out", "x"], "--out among the sweep options"),
    (["--shards", "2", "--shard=1/2"], "--shard among the sweep options"),
    (["--shards", "2", "--profiles", "7q"], "is not a size"),
    (["--shards", "2", "--repeats", "many"], "sweep options"),
    (["--shards", "0"], "--shards 0: must be at least 1"),
])
def test_prepare_refuses_bad_options_before_anything_is_written(
        suite: Path, tmp_path: Path, options: list[str], expected: str) -> None:
    code, out = prepare(suite, tmp_path / "out", *options)
    assert code == 2 and expected in out
    assert not (tmp_path / "out" / "plan.json").exists()


def test_prepare_refuses_a_second_plan(suite: Path, tmp_path: Path) -> None:
    assert prepare(suite, tmp_path / "out", "--shards", "2")[0] == 0
    code, out = prepare(suite, tmp_path / "out", "--shards", "3")
    assert code == 2 and "already holds a plan" in out
    assert shard_plan.load(tmp_path / "out").shards == 2


def test_a_shard_refuses_another_number_suite_or_harness(suite: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "out"
    assert prepare(suite, prefix, "--shards", "2", "--seed", "1")[0] == 0
    plan = shard_plan.load(prefix)
    for i in (0, 3):
        with pytest.raises(UsageError, match=f"shard {i} is not in this plan: its shards are 1 to 2"):
            shard_plan.shard_settings(plan, i)
    r = CliRunner().invoke(main, ["shard", "run", str(prefix), "0"])
    assert r.exit_code == 2 and "--array=1-2" in r.output
    (suite / "a" / "instruction.md").write_text("Something else.\n")
    with pytest.raises(UsageError, match="changed since the plan was fixed"):
        shard_plan.shard_settings(plan, 1)
    doc = json.loads((prefix / "plan.json").read_text())
    (prefix / "plan.json").write_text(json.dumps({**doc, "harness_version": "0.0.1"}))
    with pytest.raises(UsageError, match=r"prepared by harness 0\.0\.1"):
        shard_plan.check_shard(shard_plan.load(prefix), 1)


def test_run_without_a_plan_says_how_to_make_one(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["shard", "run", str(tmp_path), "1"])
    assert r.exit_code == 2 and "harness shard prepare SUITE" in r.output


def _script(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(REPO / "scripts" / "slurm_sweep.sh"), *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_slurm_sweep_refuses_without_a_harness_and_says_the_fix(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    p = _script("submit", str(tmp_path), str(tmp_path / "out"), "--shards", "2", env=env)
    assert p.returncode == 2
    assert "no harness: none on PATH and HARNESS is not set" in p.stderr and "fix: " in p.stderr
    p = _script("submit", str(tmp_path), str(tmp_path / "out"), "--shards", "2",
                env={**env, "HARNESS": str(tmp_path / "nope")})
    assert p.returncode == 2 and "is not an executable" in p.stderr
    assert not (tmp_path / "out").exists()


def test_slurm_sweep_usage_names_itself_and_run_wants_slurm(tmp_path: Path) -> None:
    p = _script(env={"PATH": "/usr/bin:/bin"})
    assert p.returncode == 2 and p.stderr.startswith("usage: slurm_sweep.sh submit SUITE OUT_PREFIX")
    p = _script("run", str(tmp_path), env={"PATH": "/usr/bin:/bin"})
    assert p.returncode == 2 and "no SLURM_ARRAY_TASK_ID" in p.stderr


def test_slurm_sweep_header_asks_for_a_clean_stop_and_one_cpu() -> None:
    header = [line for line in (REPO / "scripts" / "slurm_sweep.sh").read_text().splitlines()
              if line.startswith("#SBATCH")]
    assert "#SBATCH --signal=B:TERM@120" in header and "#SBATCH --cpus-per-task=1" in header


def test_only_a_guest_out_of_memory_says_so() -> None:
    tail = "console log (last lines):\n  (empty)"
    quiet = died(1, "", tail)  # what SIGTERM to linux.uml looks like
    assert "memory" not in str(quiet) and "status 1" in str(quiet)
    assert "ran out of memory" in str(died(1, "Kernel panic - not syncing: Out of memory", tail))
    assert "ran out of memory" in str(died(0, "harness-uml: agent exited with status 137\n", tail))
    killed = died(-signal.SIGKILL, "", tail)
    assert "killed by SIGKILL" in str(killed) and "host's OOM killer" in str(killed)
    assert "killed by SIGSEGV" in str(died(-signal.SIGSEGV, "", tail))
    assert "OOM" not in str(died(-signal.SIGSEGV, "", tail))
    s = stopped(signal.SIGTERM)
    assert "stopped by SIGTERM" in s.message and "resume" in s.fix and "memory" not in str(s)


def test_the_manifest_host_metadata_names_the_install() -> None:
    from harness.results.host import host_metadata

    host = host_metadata("native")
    assert host.harness_path == str(REPO / "harness")
    assert os.path.isfile(Path(host.harness_path) / "__init__.py")
    assert host.to_json()["harness_path"] == host.harness_path
    assert isinstance(host.to_json()["network_interfaces"], list)


def test_a_shard_split_over_guests_counts_as_its_parts(suite: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "out"
    assert prepare(suite, prefix, "--shards", "1", "--seed", "2")[0] == 0
    plan = shard_plan.load(prefix)
    for j, finished in ((1, True), (2, False)):
        write_manifest(prefix / "shard-1" / f"part-{j}", finished=finished)
    assert shard_plan.status(plan, prefix) == {1: "started"}
    write_manifest(prefix / "shard-1" / "part-2", finished=True)
    assert shard_plan.status(plan, prefix) == {1: "finished"}
    # A finished shard run again does nothing and says so (resubmitting every shard is safe).
    r = CliRunner().invoke(main, ["shard", "run", str(prefix), "1"])
    assert r.exit_code == 0 and "finished; nothing to do" in r.output
