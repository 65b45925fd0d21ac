"""One sweep trial: a fresh working directory, the agent under the profile's limits, then
the verifier in a cgroup of its own without them (it judges the work, not the machine)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.cgroup.workspace import Workspace, safe_name
from harness.limits import LimitSettings
from harness.record import RunRecord
from harness.runner.classify import combine
from harness.runner.trial import EventCallback, RunSpec, run_trial
from harness.suite.task import TaskSpec
from harness.sweep.agent import AgentTemplate
from harness.sweep.plan import Trial
from harness.sweep.profiles import Profile, TrialLimits

REWARD_FILE = "reward.txt"  # where a verifier may write 1 (pass) or 0; see README


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
    environments: Mapping[str, Any] = field(default_factory=dict)


def trial_paths(out_dir: Path, trial_id: str) -> tuple[Path, Path]:
    """(working directory, log directory) of a trial."""
    name = safe_name(trial_id.replace("/", "__"), 200)
    return out_dir / "work" / name, out_dir / "logs" / name


def run_task_trial(ctx: TrialContext, task: TaskSpec, profile: Profile, trial: Trial,
                   on_event: EventCallback | None = None) -> dict[str, Any]:
    """Run one trial to its end and return its record (not yet written)."""
    environment = ctx.environments.get(task.name)
    if environment is not None:
        return environment.run_trial(ctx, task, profile, trial, on_event)  # type: ignore[no-any-return]
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
                limits=limits.to_limit_settings(), cwd=str(workdir), env=env,
                timeout=task.agent_timeout_sec, stdin=subprocess.DEVNULL, stdout=log,
                stderr=log, name=f"{task.name}-{profile.name}", new_session=True,
                backend=ctx.backend, on_event=on_event))
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
    return {**_record(agent, verifier, reward), **sweep_fields(ctx, profile, trial, limits)}


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


def _record(agent: RunRecord, verifier: RunRecord | None, reward: Path) -> dict[str, Any]:
    rec = agent.to_dict()
    v: dict[str, Any] | None = None
    if verifier is None:
        outcome, reason = agent.outcome, agent.infra_reason
    else:
        passed, value = _verifier_verdict(verifier, reward)
        v = {k: getattr(verifier, k) for k in ("outcome", "infra_reason", "exit_code", "signal",
                                                 "timed_out", "wall_seconds", "memory_peak_bytes",
                                                 "error")}
        v["reward"] = value
        if verifier.outcome == "infra_error" or verifier.oom_kill_source is not None:
            outcome, reason = "infra_error", "verifier_error"
        else:
            verdict = combine(agent.oom_kill_source, agent.timed_out, passed)
            outcome, reason = verdict.outcome, verdict.infra_reason
    rec.update(outcome=outcome, infra_reason=reason, agent_outcome=agent.outcome, verifier=v)
    return rec


def sweep_fields(ctx: TrialContext, profile: Profile, trial: Trial, limits: TrialLimits) -> dict[str, Any]:
    """What a sweep adds to the runner's record (see harness.record.SWEEP_FIELDS)."""
    return {"trial_id": trial.trial_id, "task": trial.task, "profile": trial.profile,
            "memory_multiplier": profile.memory_multiplier, "cpu_multiplier": profile.cpu_multiplier,
            "repeat": trial.repeat, "seed": trial.seed_for_trial, "host": ctx.host,
            "sweep_id": ctx.sweep_id, "declared_memory_bytes": limits.declared_memory_bytes,
            "declared_cpus": limits.declared_cpus,
            "environment": getattr(ctx.environments.get(trial.task), "name", "host")}
