"""`harness sweep --concurrency N` through user-mode Linux: the plan split over guests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from suites import write_task

from harness.backends.guest_commands import SETTINGS_JSON_OPTION, sweep_argv
from harness.backends.uml_parts import Part, part_settings, parts, usable_cpus
from harness.schema.settings import SweepSettings
from harness.sweep.plan import Trial, shard_trials
from harness.sweep.profiles import parse_profiles


@pytest.mark.parametrize("shard, k", [(None, 2), (None, 3), ("1/2", 2), ("2/3", 2), ("3/4", 3)])
def test_the_parts_of_a_shard_are_exactly_that_shard(tmp_path: Path, shard: str | None, k: int) -> None:
    settings = SweepSettings(suite=tmp_path, profiles=tuple(parse_profiles("1x", None)), seed=1, shard=shard)
    plan = [Trial(f"t{x}", "t", "1x", x, x) for x in range(41)]
    i, n = (int(v) for v in shard.split("/")) if shard else (1, 1)
    mine = shard_trials(plan, i, n)
    got = []
    for p in parts(settings, tmp_path, k):
        pi, pn = (int(v) for v in p.shard.split("/"))
        got.append(shard_trials(plan, pi, pn))
    assert sorted(t.trial_id for part in got for t in part) == sorted(t.trial_id for t in mine)
    assert max(map(len, got)) - min(map(len, got)) <= 1


def test_a_part_is_the_sweep_with_its_own_shard_and_share_and_travels_whole(tmp_path: Path) -> None:
    settings = SweepSettings(suite=tmp_path, profiles=tuple(parse_profiles("1x,3x", None)), repeats=2,
                             seed=9, concurrency=4, tasks=("a",), shard="1/2")
    part = part_settings(settings, Part(Path("/r/o/part-2"), "3/4"), 2)
    assert (part.shard, part.concurrency, part.seed) == ("3/4", 2, 9)
    assert (part.profiles, part.repeats, part.tasks, part.suite) == (settings.profiles, 2, ("a",), tmp_path)
    # The guest's command line is built by guest_commands from the typed settings, natively.
    argv = sweep_argv(part, Path("/r/o/part-2"))
    doc = json.loads(argv[argv.index(SETTINGS_JSON_OPTION) + 1])
    assert SweepSettings.from_json(doc, "x") == part
    assert argv[argv.index("--backend") + 1] == "native" and "--json" not in argv


def test_usable_cpus_follows_the_slurm_job() -> None:
    assert usable_cpus({"SLURM_CPUS_ON_NODE": "1"}) == 1
    assert usable_cpus({}) == len(os.sched_getaffinity(0))


def test_concurrency_2_boots_two_guests_and_reports_as_one_sweep(uml_kernel: Path, shared_tmp: Path) -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.fail("this test needs 2 CPUs")
    for name in ("a", "b"):
        write_task(shared_tmp / "suite", name, "echo ok > result")
    out = shared_tmp / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("HARNESS_UML_MEM", None)
    p = subprocess.run([sys.executable, "-m", "harness", "sweep", str(shared_tmp / "suite"),
                        "--out", str(out), "--repeats", "1", "--profiles", "1x,uncapped",
                        "--concurrency", "2", "--seed", "4", "--backend", "uml"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == str(out) and "2 user-mode Linux guests" in p.stderr
    manifests = [json.loads((out / f"part-{j}" / "manifest.json").read_text()) for j in (1, 2)]
    assert [m["shard"] for m in manifests] == ["1/2", "2/2"]
    assert manifests[0]["sweep_id"] == manifests[1]["sweep_id"]
    # Two guests split what one would get: neither promises its trials more than half.
    import psutil

    assert all(m["host"]["memory_bytes"] <= psutil.virtual_memory().total * 3 // 8 for m in manifests)
    r = subprocess.run([sys.executable, "-m", "harness", "report", "--json", str(out)], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    sweep = json.loads(r.stdout)["sweep"]
    assert sweep["n_trials"] == 4 and len(sweep["sweep_ids"]) == 1
    again = subprocess.run([sys.executable, "-m", "harness", "sweep", "--resume", str(out),
                            "--backend", "uml"], cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=600)
    # As for one result directory: a finished sweep has nothing to resume (exit 2).
    assert again.returncode == 2 and "every part of the sweep finished" in again.stderr, again.stderr
    assert sum(len((out / f"part-{j}" / "trials.jsonl").read_text().splitlines()) for j in (1, 2)) == 4
