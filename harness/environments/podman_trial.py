"""One trial in the task's own container, with Harbor's lifecycle, inside the harness's cgroup.

The harness stays the single writer of the limits: it creates the trial cgroup T and
writes every limit there; the container's cgroup is created by the runtime as a child of
T (``--cgroup-parent=T``, no ``--memory``/``--cpus``), so T's counters and OOM events
hold everything the container did. Lifecycle: ``sleep infinity`` container; copy
``solution/`` in (oracle only); the agent by exec in the image's WORKDIR; the agent
phase's counters from T; ``tests/`` copied in; the verifier by exec in the same
container (the agent's background processes still alive); the verdict from
``/logs/verifier/reward.txt``, else ``reward.json``, else the verifier's exit status;
then ``cgroup.kill`` on T, the container removed, T removed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import __version__
from harness.cgroup import counters
from harness.cgroup.group import Cgroup
from harness.cgroup.workspace import safe_name
from harness.environments import podman_cli as pc
from harness.environments.images import ReadyImage
from harness.environments.reward import read_reward
from harness.environments.task_image import TaskImage
from harness.errors import HarnessError
from harness.exits import ExitStatus, killed_by
from harness.runner import timeline as timelines
from harness.runner.classify import classify, combine
from harness.runner.spawn import spawn_in_cgroup
from harness.runner.trial import EventCallback, error_record
from harness.schema.record import InfraReason, Outcome, RunRecord, TrialRecord, VerifierResult
from harness.suite.task import TaskSpec
from harness.sweep.agent_env import passed_names, workload_env
from harness.sweep.plan import Trial
from harness.sweep.profiles import Profile
from harness.sweep.task_trial import (
    TrialContext,
    agent_copy,
    capped,
    task_tampered,
    trial_paths,
    trial_record,
    verifier_copy,
)

GRACE = 5.0  # SIGTERM to the agent's processes, then SIGKILL
EXEC_SLACK = 30.0  # how long an exec client may outlive the processes it ran
START_TIMEOUT = 120.0
COPY_TIMEOUT = 120.0
LIFTED = {"memory.max": "max", "memory.high": "max", "cpu.max": "max"}  # --verifier-limits none


@dataclass(frozen=True)
class PodmanSettings:
    """What every container trial of a sweep shares."""

    podman: pc.Podman
    images: dict[str, ReadyImage]  # per task
    task_images: dict[str, TaskImage]
    agent_on: str = "container"  # "container" | "host"
    verifier_limits: str = "none"  # "none" | "same"


@dataclass
class _Phase:
    """What one exec did, as the cgroup T and the exec client saw it."""

    returncode: int | None
    timed_out: bool
    wall: float
    events_before: dict[str, int]
    events_after: dict[str, int]
    ancestor_delta: int
    first_oom: float | None
    error: str | None = None

    @property
    def events(self) -> dict[str, int]:
        return {k: self.events_after.get(k, 0) - self.events_before.get(k, 0) for k in self.events_after}


class PodmanEnvironment:
    """The ``podman`` environment: see the module's docstring."""

    name = "podman"

    def __init__(self, settings: PodmanSettings) -> None:
        self.s = settings

    def run_trial(self, ctx: TrialContext, task: TaskSpec, profile: Profile, trial: Trial,
                  on_event: EventCallback | None = None) -> TrialRecord:
        image = self.s.images[task.name]
        workdir, logdir = trial_paths(ctx.out_dir, trial.trial_id)
        # issue 11 (item 5): the task's copies for this trial (the host agent's view, the
        # verifier's checked copy) live under DIR/work, never in the suite.
        copies = workdir.with_name(workdir.name + ".task")
        shutil.rmtree(copies, ignore_errors=True)
        logdir.mkdir(parents=True, exist_ok=True)
        for sub in ("agent", "verifier"):
            shutil.rmtree(logdir / sub, ignore_errors=True)  # a half-done attempt of a killed sweep
            (logdir / sub).mkdir()
        limits = profile.resolve(task)
        name = f"harness-{safe_name(trial.trial_id.replace('/', '-'), 40)}-{secrets.token_hex(4)}"
        started_at = datetime.now(UTC).isoformat()
        fields: dict[str, Any] = {
            "environment": "podman", "container": name, "image": image.reference,
            "image_id": image.image_id, "agent_on": self.s.agent_on,
            "verifier_limits": self.s.verifier_limits,
            "network": self._network(task.name), "runtime_rewrote_limits": None,
            "container_cgroup": None, "container_protection": None, "container_limits": None,
            "logs": {}, "env_names": [],
        }
        cg = ctx.workspace.new_trial(f"{task.name}-{profile.name}")
        # podman's own processes (conmon, exec clients) beside T, outside every limit.
        runtime = ctx.workspace.new_trial(f"{task.name}-{profile.name}-runtime")
        try:
            try:
                agent, outcome, reason, verifier = self._run(
                    ctx, task, cg, runtime, name, image, logdir, copies, limits.files(), started_at, fields,
                    trial, profile.agent_timeout(task), on_event)
                rec = trial_record(agent, ctx, task, profile, trial, limits, outcome=outcome,
                                   infra_reason=reason, agent_outcome=agent.outcome, verifier=verifier)
                if reason == "task_tampered":
                    rec = task_tampered(rec, task)
            except HarnessError as e:
                run = error_record([], ctx.backend, str(e), started_at=started_at,
                                   limits=counters.read_limits(cg) if cg.path.exists() else {})
                rec = trial_record(run, ctx, task, profile, trial, limits, outcome=run.outcome,
                                   infra_reason=run.infra_reason, agent_outcome=None, verifier=None)
        finally:
            fields["cleanup_error"] = self._cleanup(cg, runtime, name)
            if not ctx.keep_workdirs:
                shutil.rmtree(copies, ignore_errors=True)
        return dataclasses.replace(rec, **fields)

    # -- the lifecycle ---------------------------------------------------------------
    def _run(self, ctx: TrialContext, task: TaskSpec, cg: Cgroup, runtime: Cgroup, name: str,
             image: ReadyImage,
             logdir: Path, copies: Path, files: dict[str, str], started_at: str, fields: dict[str, Any],
             trial: Trial, agent_timeout: float | None, on_event: EventCallback | None
             ) -> tuple[RunRecord, Outcome, InfraReason | None, VerifierResult | None]:
        """The lifecycle up to the verdict: (agent phase, outcome, infra reason, verifier)."""
        podman = self.s.podman
        for key, value in files.items():
            cg.write(key, value)
        limits = counters.read_limits(cg)
        parent = "/" + str(cg.path.relative_to(ctx.workspace.location.mount))
        podman.run([
            "run", "--detach", "--name", name,
            "--label", f"{pc.LABEL_SWEEP}={ctx.sweep_id}", "--label", f"{pc.LABEL_TRIAL}={trial.trial_id}",
            "--label", f"{pc.LABEL_SESSION}={ctx.workspace.session.path}",
            "--cgroup-parent", parent, "--cgroups", "no-conmon", "--pids-limit", "-1",
            "--network", fields["network"], *_env_flags(self.s.task_images[task.name].env),
            "--volume", f"{logdir / 'agent'}:/logs/agent",
            "--volume", f"{logdir / 'verifier'}:/logs/verifier",
            # By id: every trial runs exactly the image recorded, whatever the tag says now.
            "--entrypoint", "sleep", image.image_id.removeprefix("sha256:") or image.reference, "infinity"],
            timeout=START_TIMEOUT, cgroup=runtime)
        after = counters.read_limits(cg)
        fields["runtime_rewrote_limits"] = sorted(k for k in limits if after.get(k) != limits[k])
        if fields["runtime_rewrote_limits"]:
            raise HarnessError(f"the container runtime rewrote {', '.join(fields['runtime_rewrote_limits'])} "
                               f"of the trial cgroup {cg.path}",
                               "report it; the harness must be the only writer of limits")
        ctr = _container_cgroup(cg)
        fields["container_cgroup"] = str(ctr.path)
        fields["container_protection"] = _protect(cg, ctr)
        fields["container_limits"] = counters.read_limits(ctr)  # none but a written guarantee
        info = podman.run(["inspect", "--format", "{{.State.Pid}}\t{{.Config.WorkingDir}}", name])
        pid_text, _, wd = info.stdout.decode().strip().partition("\t")
        init_pid, workdir = int(pid_text), wd or "/"
        fields["workdir"] = workdir
        oracle = ctx.agent.is_oracle
        if oracle:
            podman.run(["cp", f"{task.path / 'solution'}/.", f"{name}:/solution"], timeout=COPY_TIMEOUT)
        shutil.copyfile(task.instruction_path, logdir / "agent" / "instruction.md")
        env = {**(dict(self.s.task_images[task.name].solution_env) if oracle else {}),
               "HARNESS_TASK": task.name, "HARNESS_INSTRUCTION": "/logs/agent/instruction.md",
               "HARNESS_WORKDIR": workdir, "HARNESS_TRIAL_SEED": str(trial.seed_for_trial),
               "HARNESS_PROFILE": trial.profile, "HARNESS_CONTAINER": name}
        if oracle:
            command = ["bash", "/solution/solve.sh"]
        else:
            command = ctx.agent.expand(task.path, Path(env["HARNESS_INSTRUCTION"]), Path(workdir), task.name,
                                       container=name)
        logs: dict[str, dict[str, int | str]] = fields["logs"]
        # The agent phase's timeline, of T: the container and everything exec'd into it.
        sampler = None if ctx.sampling is None else timelines.Sampler(cg, ctx.sampling, time.monotonic())
        try:
            if self.s.agent_on == "host" and not oracle:
                agent = capped(ctx, logdir / "agent.log", logs, "agent", lambda log: self._host_agent(
                    ctx, task, cg, name, command, env, log, init_pid, agent_timeout, on_event, copies, fields,
                    sampler))
            else:
                # The agent's environment in the container is explicit: the image's, ours above,
                # and what --pass-env names (recorded by name, never value).
                given = {n: os.environ[n] for n in ctx.pass_env if n in os.environ}
                env = {**given, **env}
                fields["env_names"] = sorted(given)
                agent = capped(ctx, logdir / "agent.log", logs, "agent", lambda log: self._exec(
                    cg, runtime, name, workdir, command, env, agent_timeout, log, init_pid, on_event,
                    sampler))
            agent_counters = counters.collect(cg)
        finally:
            if sampler is not None:
                sampler.close()
        if sampler is not None:
            timelines.write(logdir / timelines.FILE_NAME,
                            sampler.document(started_at, limits, agent_counters.memory_peak_bytes))
        agent_rec = _agent_record(agent, agent_counters, limits, command, started_at, ctx.backend, cg)
        if not _running(podman, name):
            verifier = VerifierResult(
                outcome="infra_error", infra_reason="verifier_error", exit_code=None, signal=None,
                timed_out=False, wall_seconds=0.0, memory_peak_bytes=None, reward=None, reward_source=None,
                passed=False, error="the container was gone after the agent phase (an OOM kill with "
                      "memory.oom.group takes its init too)")
            passed = False
        else:
            checked = self._verify(ctx, task, cg, runtime, name, workdir, logdir, copies, init_pid, logs)
            if checked is None:  # the task's files changed under the sweep: not judged
                return agent_rec, "infra_error", "task_tampered", None
            verifier, passed = checked
        outcome: Outcome
        reason: InfraReason | None
        if verifier.outcome == "infra_error" and agent_rec.oom_kill_source is None:
            outcome, reason = "infra_error", "verifier_error"
        else:
            verdict = combine(agent_rec.oom_kill_source, agent_rec.timed_out, passed)
            outcome, reason = verdict.outcome, verdict.infra_reason
        return agent_rec, outcome, reason, verifier

    def _verify(self, ctx: TrialContext, task: TaskSpec, cg: Cgroup, runtime: Cgroup, name: str, workdir: str,
                logdir: Path, copies: Path, init_pid: int, logs: dict[str, dict[str, int | str]]
                ) -> tuple[VerifierResult, bool] | None:
        """The verifier's run and whether the work passed; None when the task's files differ
        from when the sweep began (issue 11, item 5: then no verifier may judge)."""
        podman = self.s.podman
        verifier_task, tampered = verifier_copy(ctx, task, copies / "verifier")
        if tampered:
            return None
        if self.s.verifier_limits == "none":
            for key, value in LIFTED.items():
                if cg.has(key):
                    cg.write(key, value)
        # Whatever the agent left in /logs/verifier is not the verifier's word.
        for leftover in (logdir / "verifier").iterdir():
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
        # issue 11 (item 5): the tests come from the checked copy, into a /tests the agent
        # cannot have seeded (a planted conftest.py would otherwise run with them).
        podman.run(["exec", name, "rm", "-rf", "/tests"], timeout=COPY_TIMEOUT)
        podman.run(["cp", f"{verifier_task / 'tests'}/.", f"{name}:/tests"], timeout=COPY_TIMEOUT)
        phase = capped(ctx, logdir / "verifier.log", logs, "verifier", lambda log: self._exec(
            cg, runtime, name, workdir, ["bash", "/tests/test.sh"],
            dict(self.s.task_images[task.name].verifier_env), task.verifier_timeout_sec, log, init_pid,
            None))
        reward = read_reward(logdir / "verifier")
        code = phase.returncode
        oom = phase.events.get("oom_kill", 0) > 0
        error = phase.error or reward.error
        passed = reward.value >= 1.0 if reward.value is not None else code == 0 and not phase.timed_out
        infra = oom or phase.error is not None or reward.error is not None
        v_outcome: Outcome = ("infra_error" if infra else "passed" if passed else
                              "timeout" if phase.timed_out else "failed")
        v = VerifierResult(
            outcome=v_outcome, infra_reason="verifier_error" if infra else None,
            exit_code=code, signal=_signal_of(code),
            timed_out=phase.timed_out, wall_seconds=round(phase.wall, 4),
            memory_peak_bytes=None,  # T counts since its creation: no phase-own peak before 6.12
            reward=reward.value, reward_source=reward.source, passed=passed,
            error=("OOM-killed in the verifier phase" if oom and not error else error))
        return v, passed and not infra

    # -- running one exec, bounded -----------------------------------------------------
    def _exec(self, cg: Cgroup, runtime: Cgroup, name: str, workdir: str, command: list[str],
              env: dict[str, str], timeout: float | None, log: Any, init_pid: int,
              on_event: EventCallback | None, sampler: timelines.Sampler | None = None) -> _Phase:
        args = ["exec", "--workdir", workdir]
        for k, v in env.items():
            args += ["--env", f"{k}={v}"]
        proc = self.s.podman.popen([*args, name, *command], log, log, runtime)
        return _watch(proc, cg, timeout, init_pid, on_event, sampler=sampler)

    def _host_agent(self, ctx: TrialContext, task: TaskSpec, cg: Cgroup, name: str, command: list[str],
                    env: dict[str, str], log: Any, init_pid: int, timeout: float | None,
                    on_event: EventCallback | None, copies: Path, fields: dict[str, Any],
                    sampler: timelines.Sampler | None) -> _Phase:
        """``--agent-on host``: the agent outside the limits (model client and all), driving
        the container through ``$HARNESS_PODMAN exec $HARNESS_CONTAINER ...``."""
        # issue 11: an explicit environment (--pass-env names the rest), and the task as an
        # agent may see it (no tests/, no solution/), never the suite itself.
        ours = {**env, "HARNESS_TASK_DIR": str(agent_copy(ctx, task, copies / "agent").absolute()),
                "HARNESS_PODMAN": " ".join(self.s.podman.argv([]))}
        full = workload_env(os.environ, ctx.pass_env, ours)
        fields["env_names"] = passed_names(full, ours)
        outside = ctx.workspace.new_trial(f"{task.name}-host-agent")
        try:
            proc = spawn_in_cgroup(outside, command, env=full, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=log, new_session=True, cwd=str(self.s.podman.scratch))
            phase = _watch(proc, cg, timeout, init_pid, on_event, also=outside, sampler=sampler)
        finally:
            outside.kill()
            outside.remove()
        return phase

    def _network(self, task: str) -> str:
        forced = self.s.podman.network
        if forced is not None:
            return forced
        return "bridge" if self.s.task_images[task].allow_internet else "none"

    def _cleanup(self, cg: Cgroup, runtime: Cgroup, name: str) -> str | None:
        """Kill everything in T, remove the container, then T and the runtime's cgroup
        (conmon ends with its container); what failed, or None."""
        problems = []
        steps: list[Callable[[], object]] = [
                 cg.kill,
                 lambda: self.s.podman.run(["rm", "--force", "--time", "0", "--ignore", name],
                                           timeout=pc.REMOVE),
                 cg.remove, runtime.kill, runtime.remove]
        for step in steps:
            try:
                step()
            except HarnessError as e:
                problems.append(str(e))
        return "; ".join(problems) or None


def _watch(proc: subprocess.Popen[bytes], cg: Cgroup, timeout: float | None, init_pid: int,
           on_event: EventCallback | None, also: Cgroup | None = None,
           sampler: timelines.Sampler | None = None) -> _Phase:
    """Wait for an exec client (or a host agent); on timeout, stop the processes it started
    (every process in T but the container's init, and ``also``), then the client itself.
    With ``sampler``, T is sampled as the host trial's wait loop does, its OOM kills, timeout
    and end marked."""
    before = counters.memory_events(cg)
    ancestors = counters.ancestor_ooms(cg)
    fd = os.open(cg.file("memory.events"), os.O_RDONLY | os.O_CLOEXEC)
    pidfd = os.pidfd_open(proc.pid)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    poller.register(fd, select.POLLPRI | select.POLLERR)
    t0 = time.monotonic()
    first_oom: float | None = None
    last_kills = before.get("oom_kill", 0)
    stages: list[tuple[float, int | None]] = [] if timeout is None else [
        (t0 + timeout, signal.SIGTERM), (t0 + timeout + GRACE, signal.SIGKILL),
        (t0 + timeout + GRACE + EXEC_SLACK, None)]
    timed_out = False
    error = None
    try:
        while proc.poll() is None:
            now = time.monotonic()
            while stages and now >= stages[0][0]:
                _, sig = stages.pop(0)
                if not timed_out and sampler is not None:
                    sampler.mark(now, "timeout")
                timed_out = True
                if sig is None:
                    proc.kill()  # the client outlived what it ran: podman is hung
                    error = f"the podman client did not end {EXEC_SLACK:g} s after its processes were killed"
                else:
                    _signal_all(cg, sig, init_pid)
                    if also is not None:
                        _signal_all(also, sig, -1)
            if sampler is not None:
                sampler.due(now)
            wake = [t for t in (stages[0][0] if stages else None,
                                None if sampler is None else sampler.next_at) if t is not None]
            wait_ms = None if not wake else max(0.0, min(wake) - now) * 1000
            for ready, _ in poller.poll(wait_ms):
                if ready == fd:
                    kills = counters.memory_events(cg).get("oom_kill", 0)
                    if kills > last_kills:
                        first_oom = first_oom if first_oom is not None else time.monotonic() - t0
                        if sampler is not None:
                            sampler.mark(time.monotonic(), "oom_kill", count=kills)
                        if on_event is not None:
                            on_event("oom_kill", counters.memory_events(cg))
                    last_kills = kills
    finally:
        os.close(pidfd)
        os.close(fd)
    wall = time.monotonic() - t0
    returncode = proc.wait()
    after = counters.memory_events(cg)
    if first_oom is None and after.get("oom_kill", 0) > before.get("oom_kill", 0):
        first_oom = round(wall, 3)
    if sampler is not None:  # a kill the loop had not seen yet comes before the exit it caused
        if after.get("oom_kill", 0) > last_kills:
            sampler.mark(t0 + wall, "oom_kill", count=after.get("oom_kill", 0))
        sampler.mark(t0 + wall, "exit")
    return _Phase(returncode, timed_out, wall, before, after, counters.ancestor_ooms(cg) - ancestors,
                  first_oom, error)


def _env_flags(pairs: tuple[tuple[str, str], ...]) -> list[str]:
    return [flag for k, v in pairs for flag in ("--env", f"{k}={v}")]


def _signal_all(cg: Cgroup, sig: int, spare: int) -> None:
    for group in [cg, *cg.descendants()]:
        for pid in group.pids():
            if pid != spare:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)


def _container_cgroup(cg: Cgroup) -> Cgroup:
    found = [c for c in cg.children() if c.path.name.startswith("libpod-")]
    if len(found) != 1:
        raise HarnessError(f"the container's cgroup is not a child of the trial cgroup {cg.path} "
                           f"(children: {[c.path.name for c in cg.children()]})",
                           "podman must run with --cgroup-manager cgroupfs (the harness passes it)")
    return found[0]


def recursive_protection(mounts: str | None = None) -> bool:
    """Whether cgroup2 is mounted with ``memory_recursiveprot`` (then T's memory.low
    reaches the container's cgroup below it without being written there)."""
    text = mounts if mounts is not None else Path("/proc/self/mounts").read_text()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2] == "cgroup2":
            return "memory_recursiveprot" in parts[3].split(",")
    return False


def _protect(cg: Cgroup, ctr: Cgroup) -> str:
    """The guarantee on T protects memory charged to its child only under
    memory_recursiveprot; without it, the harness writes it on the child as well."""
    if recursive_protection():
        return "recursiveprot"
    for key in ("memory.low", "memory.min"):
        value = cg.read_optional(key)
        if value is not None and value.strip() != "0":
            ctr.write(key, value.strip())
    return "written"


def _running(podman: pc.Podman, name: str) -> bool:
    proc = podman.run(["inspect", "--format", "{{.State.Running}}", name], check=False)
    return proc.returncode == 0 and proc.stdout.decode().strip() == "true"


def _agent_record(phase: _Phase, c: counters.Counters, limits: dict[str, str], command: list[str],
                  started_at: str, backend: str, cg: Cgroup) -> RunRecord:
    rc = phase.returncode
    sig = _signal_of(rc) if rc is not None and rc >= 0 else (-rc if rc is not None else None)
    code = (ExitStatus.TIMEOUT if phase.timed_out else
            ExitStatus.HARNESS if rc is None else killed_by(sig) if sig else rc)
    verdict = classify(code == 0 and not phase.timed_out, phase.timed_out, phase.events, phase.ancestor_delta)
    return RunRecord(
        outcome=verdict.outcome, infra_reason=verdict.infra_reason, exit_code=int(code),
        returncode=rc,
        signal=sig, timed_out=phase.timed_out, wall_seconds=round(phase.wall, 4), command=command,
        started_at=started_at, harness_version=__version__, backend=backend,
        cpu_usage_usec=c.cpu.get("usage_usec"), cpu_user_usec=c.cpu.get("user_usec"),
        cpu_system_usec=c.cpu.get("system_usec"), cpu_nr_periods=c.cpu.get("nr_periods"),
        cpu_nr_throttled=c.cpu.get("nr_throttled"), cpu_throttled_usec=c.cpu.get("throttled_usec"),
        memory_peak_bytes=c.memory_peak_bytes, memory_events=c.memory_events,
        oom_kill_source=verdict.oom_kill_source, first_oom_kill_seconds=phase.first_oom,
        pids_peak=c.pids_peak, pids_max_events=c.pids_max_events, pressure=c.pressure, limits=limits,
        cgroup=str(cg.path), error=phase.error)


def _signal_of(status: int | None) -> int | None:
    """The signal an exec'd process was killed by, from the status podman exec reports (128+N)."""
    base = int(ExitStatus.SIGNAL_BASE)
    return status - base if status is not None and base < status < base + 32 else None
