"""The demo suite parses, and each oracle passes its verifier natively without limits."""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from harness.demo_suite import demo_suite_path
from harness.suite import load_suite
from harness.suite.task import TaskSpec

SUITE = load_suite(demo_suite_path())
WORK = demo_suite_path() / "_workloads" / "work.py"


def run(script: Path, task: TaskSpec, workdir: Path, seed: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HARNESS_PYTHON": sys.executable, "HARNESS_TASK_DIR": str(task.path),
           "HARNESS_WORKDIR": str(workdir), "HARNESS_TRIAL_SEED": str(seed)}
    return subprocess.run(["bash", str(script)], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=30)


def test_demo_suite_parses() -> None:
    assert SUITE.names == ("cpu-deadline", "flaky", "heavy-strategy", "lean-solver", "spike-install",
                           "steady")
    assert SUITE.warnings == ()
    for t in SUITE.tasks:
        assert t.has_oracle and t.defaulted == ()
        assert 8 << 20 <= t.memory_bytes <= 64 << 20  # tens of MiB: the UML guest is slow to touch pages
    assert SUITE.task("cpu-deadline").cpus == 0.25
    assert SUITE.task("steady").metadata["version"] == "1.0"  # the older form, memory = "24M"


def test_spike_size_in_solve_matches_the_spec() -> None:
    task = SUITE.task("spike-install")
    assert task.solve_path is not None
    m = re.search(r"work\.py\" spike (\d+) ", task.solve_path.read_text())
    assert m and int(m.group(1)) << 20 == task.memory_bytes


@pytest.mark.parametrize("name", SUITE.names)
def test_oracle_passes_natively(name: str, tmp_path: Path) -> None:
    task = SUITE.task(name)
    assert task.solve_path is not None
    agent = run(task.solve_path, task, tmp_path, seed=1)
    assert agent.returncode == 0, agent.stderr
    verdict = run(task.test_path, task, tmp_path, seed=1)
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr


@pytest.mark.parametrize("name", SUITE.names)
def test_verifier_fails_without_the_work(name: str, tmp_path: Path) -> None:
    task = SUITE.task(name)
    assert run(task.test_path, task, tmp_path, seed=1).returncode == 1


def test_flaky_slips_on_some_seeds(tmp_path: Path) -> None:
    rand01 = runpy.run_path(str(WORK))["rand01"]  # no import: leaves no __pycache__ in the package
    slipping = next(s for s in range(100) if rand01(s, 5) < 0.2)
    task = SUITE.task("flaky")
    assert task.solve_path is not None
    assert run(task.solve_path, task, tmp_path, seed=slipping).returncode == 0
    assert run(task.test_path, task, tmp_path, seed=slipping).returncode == 1
