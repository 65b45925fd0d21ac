"""The environment layer's parts that need no kernel: choosing, image tags, reward files,
options, and the refusals that come before any trial."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from harness.environments.podman_trial import recursive_protection
from harness.environments.reward import read_reward
from harness.environments.setup import EnvironmentOptions, choose
from harness.environments.task_image import TaskImage, context_hash, task_image
from harness.errors import UsageError
from harness.suite.parse import load_suite

SUITE = REPO / "tests" / "podman_suite"


def _image(name: str, context: bool, image: bool) -> TaskImage:
    return TaskImage(name, Path("/x") if context else None, "reg/x:1" if image else None, True)


def test_fixture_suite_parses_with_its_images() -> None:
    suite = load_suite(SUITE)
    assert suite.names == ("hello-app", "server-app", "spike-install")
    img = task_image(suite.task("hello-app"))
    assert img.context == SUITE / "hello-app" / "environment"
    assert img.docker_image == "registry.invalid/harness-fixtures/hello-app:1"
    assert img.allow_internet is False and img.containerized
    assert img.env == (("FIXTURE_ENV", "container"),)
    assert img.verifier_env == (("FIXTURE_VERIFIER", "verifier"),) and img.solution_env == ()


def test_build_tag_follows_the_directory_content(tmp_path: Path) -> None:
    ctx = tmp_path / "environment"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM x\n")
    first = context_hash(ctx)
    assert context_hash(ctx) == first
    (ctx / "Dockerfile").write_text("FROM y\n")
    assert context_hash(ctx) != first
    img = TaskImage("My_Task.v2-", ctx, None, True)
    assert img.build_tag() == f"localhost/harness-task-my-task-v2:{context_hash(ctx)}"


def test_choose_per_task() -> None:
    images = {"a": _image("a", True, False), "b": _image("b", False, True), "c": _image("c", False, False)}
    assert choose("host", images, True) == {"a": "host", "b": "host", "c": "host"}
    assert choose("auto", images, True) == {"a": "podman", "b": "podman", "c": "host"}
    assert choose("auto", images, False) == {"a": "host", "b": "host", "c": "host"}
    with pytest.raises(UsageError, match="c"):
        choose("podman", images, True)


def test_options_are_checked() -> None:
    EnvironmentOptions("podman", "host", "same").validate()
    with pytest.raises(UsageError, match="--verifier-limits"):
        EnvironmentOptions("podman", "container", "some").validate()


@pytest.mark.parametrize(("files", "value", "source", "error"), [
    ({}, None, None, False),
    ({"reward.txt": "1\n"}, 1.0, "reward.txt", False),
    ({"reward.txt": "0"}, 0.0, "reward.txt", False),
    ({"reward.txt": "yes"}, None, "reward.txt", True),
    ({"reward.txt": "nan"}, None, "reward.txt", True),
    ({"reward.txt": "0", "reward.json": '{"reward": 1}'}, 0.0, "reward.txt", False),  # txt first
    ({"reward.json": '{"reward": 0.5, "other": 3}'}, 0.5, "reward.json", False),
    ({"reward.json": '{"accuracy": 1.0}'}, 1.0, "reward.json", False),
    ({"reward.json": '{"a": 1, "b": 0}'}, None, "reward.json", True),
    ({"reward.json": "true"}, None, "reward.json", True),
    ({"reward.json": "{"}, None, "reward.json", True),
])
def test_reward_files(tmp_path: Path, files: dict[str, str], value: float | None, source: str | None,
                      error: bool) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    r = read_reward(tmp_path)
    assert (r.value, r.source, r.error is not None) == (value, source, error)


def test_reward_symlink_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").write_text("1")
    (tmp_path / "reward.txt").symlink_to(tmp_path / "elsewhere")
    assert read_reward(tmp_path).value is None


def test_recursive_protection_from_mounts() -> None:
    assert recursive_protection("cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,memory_recursiveprot 0 0\n")
    assert not recursive_protection("cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nsdelegate 0 0\n")
    assert not recursive_protection("proc /proc proc rw 0 0\n")


def test_missing_podman_is_one_line_with_the_fix(tmp_path: Path) -> None:
    """--environment podman where podman is not installed: refused before anything runs."""
    env = {**os.environ, "PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(REPO)}
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "harness", "sweep", str(SUITE), "--out", str(out),
                        "--environment", "podman", "--backend", "native", "--cgroup-root", "/nonexistent"],
                       env=env, capture_output=True, text=True, cwd=REPO)
    assert p.returncode != 0
    assert "podman is not installed" in p.stderr and "apt-get install" in p.stderr, p.stderr
    assert not (out / "manifest.json").exists() and not (out / "trials.jsonl").exists()


def test_agent_template_knows_container() -> None:
    from harness.sweep.agent import AgentTemplate

    AgentTemplate("drive --ctr {container} --cwd {workdir}").validate()
    words = AgentTemplate("drive {container}").expand(Path("/t"), Path("/i"), Path("/w"), "t", container="c1")
    assert words == ["drive", "c1"]


def test_host_environment_is_the_default_and_recorded() -> None:
    from harness.schema.settings import SweepSettings

    s = SweepSettings(suite=SUITE, profiles=())
    assert (s.environment, s.agent_on, s.verifier_limits, s.pull) == ("host", "container", "none", False)
    again = SweepSettings.from_json(json.loads(json.dumps(s.to_json())), "test")
    assert again.environment == "host"


def test_from_images_of_a_dockerfile() -> None:
    from harness.environments.uml_handoff import from_images

    text = ("ARG BASE=x\nFROM --platform=linux/amd64 python:3.13-slim-bookworm AS build\nRUN x\n"
            "from ubuntu:24.04\nFROM build\nFROM $BASE\nFROM scratch\nFROM ubuntu:24.04 as again\n")
    assert from_images(text) == ["python:3.13-slim-bookworm", "ubuntu:24.04"]


def test_wanted_images_of_the_fixture_suite() -> None:
    from harness.environments.uml_handoff import wanted_images

    refs = wanted_images(list(load_suite(SUITE).tasks))
    assert refs[0] == "registry.invalid/harness-fixtures/hello-app:1"
    assert "localhost/harness-base:bookworm" in refs and len(refs) == len(set(refs)) == 4


def test_a_container_trial_record_round_trips_through_the_schema() -> None:
    from harness.schema.record import TrialRecord, VerifierResult

    gone = VerifierResult(outcome="infra_error", infra_reason="verifier_error", exit_code=None, signal=None,
                          timed_out=False, wall_seconds=0.0, memory_peak_bytes=None, error="gone",
                          reward=None, reward_source=None)
    rec = TrialRecord(
        outcome="infra_error", infra_reason="verifier_error", exit_code=0, returncode=0, signal=None,
        timed_out=False, wall_seconds=1.0, command=["bash", "/solution/solve.sh"], started_at="t",
        harness_version="0", backend="uml", trial_id="a/1x/0", task="a", profile="1x",
        memory_multiplier=1.0, cpu_multiplier=1.0, repeat=0, seed=1, host="h", sweep_id="s",
        declared_memory_bytes=1 << 20, declared_cpus=1.0, agent_outcome="passed", verifier=gone,
        environment="podman", container="harness-a-1x-0-abcd", image="localhost/x:1", image_id="sha256:1",
        workdir="/app", agent_on="container", verifier_limits="none", network="none",
        container_cgroup="/sys/fs/cgroup/t/libpod-1", container_limits={"memory.low": "1024"},
        container_protection="written", runtime_rewrote_limits=[], cleanup_error=None)
    doc = json.loads(json.dumps(rec.to_json()))
    assert doc["verifier"]["exit_code"] is None and doc["environment"] == "podman"
    assert TrialRecord.from_json(doc, "x") == rec


def test_a_uml_sweep_gets_the_hosts_images_as_a_disk_only_when_it_may_run_containers(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The seam: a sweep through `uml_sweep` hands the guest the store of this host's images
    (a copy-on-write disk, removed afterwards) for a podman sweep, nothing for a host sweep."""
    from harness.backends import uml_relay, uml_sweep
    from harness.environments import uml_handoff, uml_store
    from harness.schema.settings import SweepSettings
    from harness.sweep.profiles import parse_profiles

    seen: list[tuple[tuple[str, ...], list[str]]] = []

    def run_harness(argv: list[str], mem: str | None = None, disks: tuple[str, ...] = ()) -> int:
        seen.append((tuple(disks), argv))
        for disk in disks[1:]:
            Path(disk.split(",")[0]).write_bytes(b"cow")  # what the guest would write
        return 0

    monkeypatch.setattr(uml_relay, "run_harness", run_harness)
    store = tmp_path / "store.img"
    monkeypatch.setattr(uml_handoff, "guest_store", lambda tasks: store)
    monkeypatch.setattr(uml_store, "cache_dir", lambda: tmp_path)
    host = SweepSettings(suite=SUITE, profiles=tuple(parse_profiles("1x", None)), seed=1)
    assert uml_sweep.start(host, tmp_path / "a") == 0
    assert seen[-1][0] == ()
    podman = SweepSettings(suite=SUITE, profiles=tuple(parse_profiles("1x", None)), seed=1,
                           environment="podman")
    assert uml_sweep.start(podman, tmp_path / "b", disks=("extra",)) == 0
    disks, argv = seen[-1]
    assert disks[0] == "extra" and disks[1].endswith(f",{store}") and len(disks) == 2
    assert '"environment": "podman"' in argv[argv.index("--settings-json") + 1]
    assert not Path(disks[1].split(",")[0]).exists()  # the copy-on-write file is gone
