"""`--environment podman` on a real kernel: Terminal-Bench-shaped tasks in their own images,
in containers whose cgroups are children of the harness's trial cgroups.

One user-mode Linux guest for the module, booted over a copy-on-write of the machine's
cached podman store (base image built offline once: harness.environments.uml_store);
one sweep of the fixture suite (tests/podman_suite) at 1x and 3x whose records several
tests read; one sweep killed with SIGKILL and resumed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, SHARED_TMP, no_kernel

SUITE = REPO / "tests" / "podman_suite"
WATCHED = ("sleep infinity", "conmon", "http.server", "sleep 600")  # what trials start
NEEDS = ("podman", "crun", "conmon", "mmdebstrap", "insmod", "mkfs.ext4")

pytestmark = pytest.mark.kernel


@dataclass
class PodmanGuest:
    guest: Any
    podman: list[str]

    def run(self, argv: list[str], timeout: float = 900) -> Any:
        r = self.guest.run(argv, cwd=str(REPO), timeout=timeout)
        if r.timed_out:
            raise AssertionError(f"{argv} timed out in the guest")
        return r

    def harness(self, *args: str, timeout: float = 900) -> Any:
        return self.run([sys.executable, "-m", "harness", *args], timeout=timeout)

    def podman_out(self, *args: str) -> str:
        r = self.run([*self.podman, *args], timeout=120)
        assert r.returncode == 0, r.stderr.decode()
        return str(r.stdout.decode())

    def leftovers(self) -> dict[str, Any]:
        """Containers, harness cgroups and container processes still present in the guest."""
        script = ("ls -d /sys/fs/cgroup/harness/*/*/ 2>/dev/null | grep -v /supervisor/; "
                  "echo ---; for p in /proc/[0-9]*; do tr '\\000' ' ' < $p/cmdline 2>/dev/null; echo; done")
        r = self.run(["/bin/sh", "-c", script], timeout=120)
        cgroups, _, procs = r.stdout.decode().partition("---")
        return {"containers": self.podman_out("ps", "--all", "--quiet").split(),
                "cgroups": cgroups.split(),
                "processes": [p for p in procs.splitlines() if any(w in p for w in WATCHED)]}


@pytest.fixture(scope="module")
def pg() -> Iterator[PodmanGuest]:
    from harness.backends.uml import UmlGuest, find_kernel
    from harness.environments import uml_store

    missing = [b for b in NEEDS if shutil.which(b) is None]
    if missing:
        no_kernel(f"podman tests need {', '.join(missing)} (bash scripts/setup.sh --podman installs them)")
    if find_kernel() is None:
        no_kernel("linux.uml is not installed")
    store = uml_store.base_store()  # built once per machine (about 2 minutes), then cached
    SHARED_TMP.mkdir(parents=True, exist_ok=True)
    disk = uml_store.cow_disk(store, SHARED_TMP)
    try:
        with UmlGuest(mem="2G", disks=[disk]) as guest:
            prep = guest.run([os.path.realpath(sys.executable), "-m", "harness.environments.uml_podman"],
                             cwd=str(REPO), timeout=120)
            assert prep.returncode == 0 and prep.stdout.decode().strip() == "disk", prep.stderr.decode()
            yield PodmanGuest(guest, uml_store.podman_argv())
    finally:
        Path(disk.split(",")[0]).unlink(missing_ok=True)


def _records(out: Path) -> dict[str, dict[str, Any]]:
    return {r["trial_id"]: r for r in map(json.loads, (out / "trials.jsonl").read_text().splitlines())}


@pytest.fixture(scope="module")
def swept(pg: PodmanGuest) -> Iterator[tuple[Path, dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """The fixture suite at 1x, and the spike task at 3x, once; what the guest held afterwards."""
    out = SHARED_TMP / f"podman-sweep-{uuid.uuid4().hex[:6]}"
    common = ("--environment", "podman", "--backend", "native", "--repeats", "1", "--seed", "7")
    r = pg.harness("sweep", str(SUITE), "--out", str(out / "1x"), "--profiles", "1x", *common)
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    r = pg.harness("sweep", str(SUITE), "--out", str(out / "3x"), "--profiles", "3x",
                   "--tasks", "spike-install", *common)
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    manifests = [json.loads((out / p / "manifest.json").read_text()) for p in ("1x", "3x")]
    yield out / "1x", manifests[0], {**_records(out / "1x"), **_records(out / "3x")}, {
        **pg.leftovers(), "second_sweep_images": manifests[1]["images"]}
    shutil.rmtree(out, ignore_errors=True)


def test_images_built_once_per_task_and_recorded(swept: Any) -> None:
    _, manifest, records, _ = swept
    images = manifest["images"]
    assert set(images) == {"hello-app", "server-app", "spike-install"}
    for task, image in images.items():
        assert image["reference"].startswith(f"localhost/harness-task-{task}:")
        assert image["image_id"].startswith("sha256:") and image["source"] in ("built", "reused")
    assert manifest["environment"] == "podman" and manifest["verifier_limits"] == "none"
    assert manifest["settings"]["environment"] == "podman"
    for rec in records.values():
        assert rec["environment"] == "podman"
        assert rec["image_id"] == images[rec["task"]]["image_id"]
    # The second sweep found the image the first one built: same tag, same id, not rebuilt.
    again = swept[3]["second_sweep_images"]["spike-install"]
    assert again["source"] == "reused" and again["image_id"] == images["spike-install"]["image_id"]


def test_limits_in_trial_cgroup_and_container_cgroup_under_it(swept: Any) -> None:
    _, _, records, _ = swept
    rec = records["hello-app/1x/0"]
    assert rec["limits"]["memory.max"] == str(64 << 20)  # the declared 64M at 1x, in T
    assert rec["limits"]["memory.low"] == str(64 << 20)
    assert Path(rec["container_cgroup"]).parent == Path(rec["cgroup"])
    assert Path(rec["container_cgroup"]).name.startswith("libpod-")
    assert rec["runtime_rewrote_limits"] == []
    assert rec["container_protection"] in ("recursiveprot", "written")
    ctr = rec["container_limits"]  # the runtime wrote no limit of its own on the container
    assert ctr["memory.max"] == "max" and ctr["cpu.max"].startswith("max") and ctr["pids.max"] == "max"
    if rec["container_protection"] == "written":  # no memory_recursiveprot: the harness wrote it
        assert ctr["memory.low"] == rec["limits"]["memory.low"]
    assert records["spike-install/3x/0"]["limits"]["memory.max"] == str(3 * (48 << 20))


def test_tests_absent_for_agent_present_for_verifier_and_reward_read(swept: Any) -> None:
    out, _, records, _ = swept
    rec = records["hello-app/1x/0"]
    assert rec["outcome"] == "passed", rec
    assert rec["verifier"]["reward"] == 1.0 and rec["verifier"]["reward_source"] == "reward.txt"
    logs = out / "logs" / "hello-app__1x__0"
    assert (logs / "agent" / "tests-during-agent.txt").read_text().split() == ["absent", "pwd=/app"]
    assert (logs / "verifier" / "tests-during-verifier.txt").read_text().strip() == "present"
    # [environment.env] reaches the container, [verifier.env] the verifier.
    assert (logs / "verifier" / "env.txt").read_text().split() == ["container", "verifier"]
    assert rec["workdir"] == "/app"


def test_server_started_by_agent_alive_for_verifier(swept: Any) -> None:
    _, _, records, _ = swept
    rec = records["server-app/1x/0"]
    assert rec["outcome"] == "passed", rec
    assert rec["verifier"]["reward"] == 1.0


def test_install_spike_oom_killed_at_1x_is_infra_error_and_passes_at_3x(swept: Any) -> None:
    _, _, records, _ = swept
    killed = records["spike-install/1x/0"]
    assert killed["outcome"] == "infra_error" and killed["infra_reason"] == "oom_kill", killed
    assert killed["oom_kill_source"] == "limit"
    assert killed["memory_events"]["oom_kill"] >= 1  # read from T's memory.events
    assert killed["agent_outcome"] == "infra_error"
    roomy = records["spike-install/3x/0"]
    assert roomy["outcome"] == "passed" and roomy["memory_events"]["oom_kill"] == 0, roomy
    assert roomy["memory_peak_bytes"] > 48 << 20  # T saw the spike the container made


def test_container_trials_write_the_agent_phases_timeline(swept: Any) -> None:
    # T holds the container, so its samples are the container's memory; the OOM kill at 1x
    # and the end of the exec are marked, and `harness show` reads the file as a host trial's.
    from harness.runner import timeline

    out, _, records, _ = swept
    killed = timeline.read(out / "logs" / "spike-install__1x__0" / timeline.FILE_NAME)
    kinds = [e["kind"] for e in killed.events]
    assert "oom_kill" in kinds and kinds[-1] == "exit", kinds
    assert killed.limits["memory.max"] == str(48 << 20) and len(killed.seconds) >= 2
    assert killed.memory_peak_bytes == records["spike-install/1x/0"]["memory_peak_bytes"]
    roomy = timeline.read(out.parent / "3x" / "logs" / "spike-install__3x__0" / timeline.FILE_NAME)
    assert "oom_kill" not in [e["kind"] for e in roomy.events]
    assert max(p for p in roomy.peak if p is not None) > 48 << 20  # the spike, seen in T


def test_nothing_left_after_the_sweep(swept: Any) -> None:
    _, _, records, left = swept
    assert {k: left[k] for k in ("containers", "cgroups", "processes")} == {
        "containers": [], "cgroups": [], "processes": []}
    assert all(r["cleanup_error"] is None for r in records.values())


def test_resume_after_sigkill_removes_the_leftover_container(pg: PodmanGuest) -> None:
    root = SHARED_TMP / f"podman-resume-{uuid.uuid4().hex[:6]}"
    try:
        suite = root / "suite"
        shutil.copytree(SUITE / "hello-app", suite / "hello-app")
        toml = suite / "hello-app" / "task.toml"
        text = toml.read_text().replace("[agent]\ntimeout_sec = 120.0", "[agent]\ntimeout_sec = 10.0")
        toml.write_text(text)
        out = root / "out"
        cmd = pg.guest.submit([sys.executable, "-m", "harness", "sweep", str(suite), "--out", str(out),
                               "--environment", "podman", "--backend", "native", "--profiles", "1x",
                               "--repeats", "1", "--agent", "sleep 600"], cwd=str(REPO), timeout=900)
        deadline = time.monotonic() + 600
        while not pg.podman_out("ps", "--quiet", "--filter", "label=harness.trial").split():
            assert not cmd.done(), cmd.wait().stderr.decode()[-2000:]
            assert time.monotonic() < deadline, "the container never started"
            time.sleep(1)
        time.sleep(2)  # into the agent phase
        cmd.signal(signal.SIGKILL)
        cmd.wait()
        sweep_id = json.loads((out / "manifest.json").read_text())["sweep_id"]
        left = pg.podman_out("ps", "--all", "--quiet", "--filter", f"label=harness.sweep={sweep_id}").split()
        assert len(left) == 1  # the killed sweep's container outlived it
        r = pg.harness("sweep", "--resume", str(out), "--backend", "native")
        assert r.returncode == 0, r.stderr.decode()[-3000:]
        rec = next(iter(_records(out).values()))
        assert rec["outcome"] == "timeout" and rec["timed_out"], rec  # sleep 600 against 10 s
        assert rec["agent_on"] == "container"
        assert pg.leftovers() == {"containers": [], "cgroups": [], "processes": []}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_agent_on_host_drives_the_container_from_outside(pg: PodmanGuest) -> None:
    out = SHARED_TMP / f"podman-host-agent-{uuid.uuid4().hex[:6]}"
    agent = ("sh -c '$HARNESS_PODMAN exec --workdir /app $HARNESS_CONTAINER sh -c "
             "\"cat data.txt installed.txt > answer.txt\" && echo {container} > /dev/null'")
    try:
        r = pg.harness("sweep", str(SUITE), "--out", str(out), "--environment", "podman",
                       "--backend", "native", "--profiles", "1x", "--repeats", "1", "--tasks", "hello-app",
                       "--agent-on", "host", "--agent", agent)
        assert r.returncode == 0, r.stderr.decode()[-3000:]
        rec = next(iter(_records(out).values()))
        assert rec["outcome"] == "passed" and rec["agent_on"] == "host", rec
        assert rec["verifier"]["reward"] == 1.0
        assert json.loads((out / "manifest.json").read_text())["agent_on"] == "host"
        assert pg.leftovers() == {"containers": [], "cgroups": [], "processes": []}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _broken_copy(task: Path) -> None:
    """hello-app whose image build fails at an install step."""
    shutil.copytree(SUITE / "hello-app", task)
    with open(task / "environment" / "Dockerfile", "a") as f:
        f.write("RUN echo the install step fails >&2 && false\n")


def test_a_task_whose_image_cannot_be_built_stops_the_sweep_before_it_starts(pg: PodmanGuest) -> None:
    root = SHARED_TMP / f"podman-broken-{uuid.uuid4().hex[:6]}"
    try:
        _broken_copy(root / "suite" / "broken-app")
        out = root / "out"
        r = pg.harness("sweep", str(root / "suite"), "--out", str(out), "--environment", "podman",
                       "--backend", "native", "--profiles", "1x", "--repeats", "1")
        err = r.stderr.decode()
        assert r.returncode == 2, err
        assert "broken-app" in err and "podman build" in err and "--skip-broken-images" in err, err
        assert not (out / "manifest.json").exists() and not (out / "trials.jsonl").exists()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_skip_broken_images_sweeps_the_other_tasks(pg: PodmanGuest) -> None:
    root = SHARED_TMP / f"podman-skip-{uuid.uuid4().hex[:6]}"
    try:
        shutil.copytree(SUITE / "hello-app", root / "suite" / "hello-app")
        _broken_copy(root / "suite" / "broken-app")
        out = root / "out"
        r = pg.harness("sweep", str(root / "suite"), "--out", str(out), "--environment", "podman",
                       "--backend", "native", "--profiles", "1x", "--repeats", "1", "--skip-broken-images")
        assert r.returncode == 0, r.stderr.decode()[-3000:]
        recs = _records(out)
        assert sorted(rec["task"] for rec in recs.values()) == ["hello-app"], recs.keys()
        assert next(iter(recs.values()))["outcome"] == "passed"
        assert "broken-app" in json.loads((out / "manifest.json").read_text())["image_failures"]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_verifier_limits_same_keeps_the_agents_limits_none_lifts_them(pg: PodmanGuest) -> None:
    """A verifier that needs more memory than the 1x limit: Harbor's `same` kills it (an
    infra error: the verifier could not judge), `none` lets it judge the work."""
    root = SHARED_TMP / f"podman-vlimits-{uuid.uuid4().hex[:6]}"
    try:
        task = root / "suite" / "hungry-verifier"
        shutil.copytree(SUITE / "hello-app", task)
        (task / "tests" / "test.sh").write_text(
            "#!/bin/bash\n"
            "python3 -c \"b = bytearray(160 << 20); b[::4096] = b'x' * len(b[::4096])\" "
            "&& echo 1 > /logs/verifier/reward.txt\n")
        outcomes = {}
        for mode in ("same", "none"):
            out = root / mode
            r = pg.harness("sweep", str(root / "suite"), "--out", str(out), "--environment", "podman",
                           "--backend", "native", "--profiles", "1x", "--repeats", "1",
                           "--verifier-limits", mode)
            assert r.returncode == 0, r.stderr.decode()[-3000:]
            rec = next(iter(_records(out).values()))
            assert json.loads((out / "manifest.json").read_text())["verifier_limits"] == mode
            outcomes[mode] = (rec["outcome"], rec["infra_reason"])
        assert outcomes["same"] == ("infra_error", "verifier_error"), outcomes
        assert outcomes["none"] == ("passed", None), outcomes
        assert pg.leftovers() == {"containers": [], "cgroups": [], "processes": []}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_host_agent_sees_no_tests_and_none_of_our_environment(pg: PodmanGuest) -> None:
    """issue 11 for container trials: --agent-on host got the suite's own task directory
    (tests/ and solution/ in it) and the harness's whole environment."""
    out = SHARED_TMP / f"podman-hostile-{uuid.uuid4().hex[:6]}"
    agent = "sh -c 'ls -a \"$HARNESS_TASK_DIR\"; echo; env | cut -d= -f1 | sort'"
    try:
        r = pg.harness("sweep", str(SUITE), "--out", str(out), "--environment", "podman",
                       "--backend", "native", "--profiles", "1x", "--repeats", "1", "--tasks", "hello-app",
                       "--agent-on", "host", "--agent", agent)
        assert r.returncode == 0, r.stderr.decode()[-3000:]
        rec = next(iter(_records(out).values()))
        from harness.sweep.agent_env import BASE_NAMES

        # it did no work; of our environment it got only the documented base names
        assert rec["outcome"] == "failed" and set(rec["env_names"]) <= set(BASE_NAMES), rec
        assert rec["logs"]["agent"]["cut_bytes"] == 0 and rec["verifier"]["passed"] is False
        listing, _, names = (out / "logs" / "hello-app__1x__0" / "agent.log").read_text().partition("\n\n")
        assert "instruction.md" in listing.split() and not {"tests", "solution"} & set(listing.split())
        assert "PYTHONPATH" not in names.split() and "HARNESS_PODMAN" in names.split()
    finally:
        shutil.rmtree(out, ignore_errors=True)
