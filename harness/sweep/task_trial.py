"""One sweep trial: a fresh working directory, the agent under the profile's limits, then
the verifier in a cgroup of its own without them (it judges the work, not the machine)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from harness.cgroup.workspace import Workspace, safe_name
from harness.limits import LimitSettings
from harness.runner.classify import combine
from harness.runner.timeline import FILE_NAME as TIMELINE_FILE
from harness.runner.timeline import SamplePolicy
from harness.runner.trial import EventCallback, RunSpec, error_record, run_trial
from harness.schema.record import InfraReason, Outcome, RunRecord, TrialRecord, VerifierResult
from harness.suite.task import TaskSpec
from harness.sweep.agent import AgentTemplate
from harness.sweep.plan import Trial
from harness.sweep.profiles import Profile

REWARD_FILE = "reward.txt"  # where a verifier may write 1 (pass) or 0; see README


class Environment(Protocol):
    """Where a task's trials run (harness.environments): runs one trial to its end and returns
    its record (not yet written).

    Every environment puts the agent phase under the profile's limits in a trial cgroup
    of the harness's own, reads OOM kills and counters from it exactly as a host trial
    does, and leaves nothing behind (no process, no cgroup, no container).
    """

    name: str

    def run_trial(self, ctx: TrialContext, task: TaskSpec, profile: Profile, trial: Trial,
                  on_event: EventCallback | None = None) -> TrialRecord: ...


@dataclass(frozen=True)
class TrialContext:
    """What every trial of a sweep shares."""

    workspace: Workspace
    agent: AgentTemplate
    out_dir: Path
    backend: str
    host: str
    sweep_id: str
    keep_workdirs: bool = False
    # Per task, where its trials run (harness.environments); a task not named runs here.
    environments: Mapping[str, Environment] = field(default_factory=dict)
    sampling: SamplePolicy | None = field(default_factory=SamplePolicy)  # None: no timeline


def trial_paths(out_dir: Path, trial_id: str) -> tuple[Path, Path]:
    """(working directory, log directory) of a trial."""
    name = safe_name(trial_id.replace("/", "__"), 200)
    return out_dir / "work" / name, out_dir / "logs" / name


def run_task_trial(ctx: TrialContext, task: TaskSpec, profile: Profile, trial: Trial,
                   on_event: EventCallback | None = None) -> TrialRecord:
    """Run one trial to its end and return its record (not yet written)."""
    environment = ctx.environments.get(task.name)
    if environment is not None:
        return environment.run_trial(ctx, task, profile, trial, on_event)
    workdir, logdir = trial_paths(ctx.out_dir, trial.trial_id)
    shutil.rmtree(workdir, ignore_errors=True)  # a half-done attempt of a killed sweep
    workdir.mkdir(parents=True)
    logdir.mkdir(parents=True, exist_ok=True)
    reward = logdir / REWARD_FILE
    reward.unlink(missing_ok=True)
    env = _environment(task, trial, workdir, reward, profile.name)
    limits = profile.resolve(task)
    try:
        with open(logdir / "agent.log", "wb") as log:
            agent = run_trial(ctx.workspace, RunSpec(
                command=ctx.agent.expand(task.path, task.instruction_path, workdir, task.name),
                limits=limits, cwd=str(workdir), env=env,
                timeout=profile.agent_timeout(task), stdin=subprocess.DEVNULL, stdout=log,
                stderr=log, name=f"{task.name}-{profile.name}", new_session=True,
                backend=ctx.backend, on_event=on_event, sampling=ctx.sampling,
                timeline=None if ctx.sampling is None else logdir / TIMELINE_FILE))
        verifier = None
        if agent.infra_reason not in ("spawn_error", "harness_error"):
            with open(logdir / "verifier.log", "wb") as log:
                verifier = run_trial(ctx.workspace, RunSpec(
                    command=["bash", str(task.test_path)], limits=LimitSettings(), cwd=str(workdir),
                    env=env, timeout=task.verifier_timeout_sec, stdin=subprocess.DEVNULL,
                    stdout=log, stderr=log, name=f"{task.name}-verify", new_session=True,
                    backend=ctx.backend))
    finally:
        if not ctx.keep_workdirs:
            shutil.rmtree(workdir, ignore_errors=True)
    return _record(agent, verifier, reward, ctx, task, profile, trial, limits)


def _environment(task: TaskSpec, trial: Trial, workdir: Path, reward: Path, profile: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "HARNESS_TASK": task.name, "HARNESS_TASK_DIR": str(task.path),
        "HARNESS_INSTRUCTION": str(task.instruction_path), "HARNESS_WORKDIR": str(workdir),
        "HARNESS_TRIAL_SEED": str(trial.seed_for_trial), "HARNESS_PROFILE": profile,
        "HARNESS_PYTHON": sys.executable, "HARNESS_REWARD_FILE": str(reward),
    })
    return env


def _verifier_verdict(verifier: RunRecord, reward: Path) -> tuple[bool, float | None]:
    """Passed when the reward file says 1 (or more), else when the verifier exited 0."""
    if reward.exists():
        try:
            value = float(reward.read_text().strip())
        except ValueError:
            return False, None
        return value >= 1.0, value
    return verifier.exit_code == 0 and not verifier.timed_out, None


def _record(agent: RunRecord, verifier: RunRecord | None, reward: Path, ctx: TrialContext,
            task: TaskSpec, profile: Profile, trial: Trial, limits: LimitSettings) -> TrialRecord:
    v: VerifierResult | None = None
    outcome: Outcome
    reason: InfraReason | None
    if verifier is None:
        outcome, reason = agent.outcome, agent.infra_reason
    else:
        passed, value = _verifier_verdict(verifier, reward)
        v = VerifierResult.of(verifier, value)
        if verifier.outcome == "infra_error" or verifier.oom_kill_source is not None:
            outcome, reason = "infra_error", "verifier_error"
        else:
            verdict = combine(agent.oom_kill_source, agent.timed_out, passed)
            outcome, reason = verdict.outcome, verdict.infra_reason
    return trial_record(agent, ctx, task, profile, trial, limits, outcome=outcome, infra_reason=reason,
                        agent_outcome=agent.outcome, verifier=v)


def harness_error_trial(ctx: TrialContext, task: TaskSpec, profile: Profile, trial: Trial,
                        message: str) -> TrialRecord:
    """The record of a trial the harness failed around (disk, cgroup): an infra error."""
    run = error_record([], ctx.backend, message)
    return trial_record(run, ctx, task, profile, trial, profile.resolve(task), outcome=run.outcome,
                        infra_reason=run.infra_reason, agent_outcome=None, verifier=None)


def trial_record(run: RunRecord, ctx: TrialContext, task: TaskSpec, profile: Profile, trial: Trial,
                 limits: LimitSettings, *, outcome: Outcome, infra_reason: InfraReason | None,
                 agent_outcome: Outcome | None, verifier: VerifierResult | None) -> TrialRecord:
    """The agent phase's record with the sweep's fields and the trial's verdict."""
    fields = {f.name: getattr(run, f.name) for f in dataclasses.fields(RunRecord)}
    fields.update(outcome=outcome, infra_reason=infra_reason)
    assert limits.declared_memory_bytes is not None and limits.declared_cpus is not None
    return TrialRecord(
        **fields, trial_id=trial.trial_id, task=trial.task, profile=trial.profile,
        memory_multiplier=profile.memory_multiplier, cpu_multiplier=profile.cpu_multiplier,
        timeout_multiplier=profile.timeout_multiplier, agent_timeout_sec=profile.agent_timeout(task),
        repeat=trial.repeat, seed=trial.seed_for_trial, host=ctx.host, sweep_id=ctx.sweep_id,
        declared_memory_bytes=limits.declared_memory_bytes, declared_cpus=limits.declared_cpus,
        agent_outcome=agent_outcome, verifier=verifier)
