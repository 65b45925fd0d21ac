"""One sweep trial: a fresh working directory, the agent under the profile's limits, then
the verifier in a cgroup of its own without them (it judges the work, not the machine)."""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from harness.cgroup.workspace import Workspace, safe_name
from harness.limits import LimitSettings
from harness.runner.classify import combine
from harness.runner.logcap import DEFAULT_LOG_CAP_BYTES, CappedLog
from harness.runner.spawn import user_ids
from harness.runner.timeline import FILE_NAME as TIMELINE_FILE
from harness.runner.timeline import SamplePolicy
from harness.runner.trial import EventCallback, RunSpec, error_record, run_trial
from harness.schema.record import (
    TAMPER_REASONS,
    InfraReason,
    Outcome,
    RunRecord,
    TrialRecord,
    VerifierResult,
)
from harness.suite.task import TaskSpec
from harness.suite.task_copy import AGENT_PARTS, ORACLE_PARTS, copy_task, task_digest
from harness.sweep.agent import AgentTemplate
from harness.sweep.agent_env import passed_names, workload_env
from harness.sweep.plan import Trial
from harness.sweep.profiles import Profile

T = TypeVar("T")
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
    suite_root: Path | None = None  # for the per-trial task copies (None: the task's parent)
    pass_env: tuple[str, ...] = ()  # names of our environment the workloads also get
    log_cap_bytes: int = DEFAULT_LOG_CAP_BYTES
    agent_user: str | None = None  # the agent phase runs as this user
    protect_limits: bool = False  # the agent phase runs confined (harness/runner/confine.py)
    # task -> task_digest() when the sweep (re)started: a verifier copy must match it
    task_digests: Mapping[str, str] = field(default_factory=dict)
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
    # issue 11 (item 5): the agent's and the verifier's copies of the task live beside the
    # working directory (under DIR/work, which a resume clears), never in the suite.
    copies = workdir.with_name(workdir.name + ".task")
    for d in (workdir, copies):
        shutil.rmtree(d, ignore_errors=True)  # a half-done attempt of a killed sweep
    workdir.mkdir(parents=True)
    logdir.mkdir(parents=True, exist_ok=True)
    agent_task = agent_copy(ctx, task, copies / "agent")
    if ctx.agent_user is not None:
        shutil.chown(workdir, user=ctx.agent_user, group=user_ids(ctx.agent_user)["group"])
    # issue 11 ("Also"): an explicit environment, not ours; the agent gets no reward file.
    agent_vars = _harness_vars(task, trial, workdir, agent_task, profile.name)
    env = workload_env(os.environ, ctx.pass_env, agent_vars)
    limits = profile.resolve(task)
    logs: dict[str, dict[str, int | str]] = {}
    try:
        agent = capped(ctx, logdir / "agent.log", logs, "agent", lambda fd: run_trial(ctx.workspace, RunSpec(
            command=ctx.agent.expand(agent_task, agent_task / "instruction.md", workdir, task.name),
            limits=limits, cwd=str(workdir), env=env,
            timeout=profile.agent_timeout(task), stdin=subprocess.DEVNULL, stdout=fd,
            stderr=fd, name=f"{task.name}-{profile.name}", new_session=True,
            backend=ctx.backend, on_event=on_event, user=ctx.agent_user,
            confine=ctx.protect_limits, sampling=ctx.sampling,
            timeline=None if ctx.sampling is None else logdir / TIMELINE_FILE)))
        verifier = None
        tampered = False
        reward = copies / "verifier-out" / REWARD_FILE
        if agent.infra_reason not in ("spawn_error", "harness_error"):
            _remove(reward.parent)  # whatever the agent put there: the reward file is new
            verifier_task, tampered = verifier_copy(ctx, task, copies / "verifier")
            reward.parent.mkdir()
            venv = workload_env(os.environ, ctx.pass_env,
                                {**_harness_vars(task, trial, workdir, verifier_task, profile.name),
                                 "HARNESS_REWARD_FILE": str(reward)})
            verifier = None if tampered else capped(ctx, logdir / "verifier.log", logs, "verifier",
                               lambda fd: run_trial(ctx.workspace, RunSpec(
                                   command=["bash", str(verifier_task / "tests" / "test.sh")],
                                   limits=LimitSettings(), cwd=str(workdir), env=venv,
                                   timeout=task.verifier_timeout_sec, stdin=subprocess.DEVNULL,
                                   stdout=fd, stderr=fd, name=f"{task.name}-verify", new_session=True,
                                   backend=ctx.backend)))
        rec = _record(agent, verifier, reward, ctx, task, profile, trial, limits, logs,
                      passed_names(env, agent_vars))
        if tampered:
            rec = task_tampered(rec, task)
    finally:
        if not ctx.keep_workdirs:
            shutil.rmtree(workdir, ignore_errors=True)
            shutil.rmtree(copies, ignore_errors=True)
    return rec


def agent_copy(ctx: TrialContext, task: TaskSpec, dest: Path) -> Path:
    """What the agent may see of ``task`` (issue 11, item 5), copied under ``dest``: never
    ``tests/``, and ``solution/`` only for the oracle."""
    _remove(dest)
    return copy_task(ctx.suite_root or task.path.parent, task.path, dest=dest,
                     parts=ORACLE_PARTS if ctx.agent.is_oracle else AGENT_PARTS)


def verifier_copy(ctx: TrialContext, task: TaskSpec, dest: Path) -> tuple[Path, bool]:
    """A fresh copy of the whole task under ``dest``, made after the agent phase (whatever
    the agent did to its own copy does not reach the verifier), and whether it differs
    from the task as the sweep began: then the suite changed under the sweep (a root agent
    can write it) and this verifier may not judge."""
    _remove(dest)
    suite_root = ctx.suite_root or task.path.parent
    copy = copy_task(suite_root, task.path, dest=dest, parts=None)
    expected = ctx.task_digests.get(task.name)
    return copy, expected is not None and task_digest(copy, task.path != suite_root) != expected


def task_tampered(rec: TrialRecord, task: TaskSpec) -> TrialRecord:
    """``rec`` as a trial that was not judged: its task's files changed since the sweep began."""
    return dataclasses.replace(rec, outcome="infra_error", infra_reason="task_tampered",
                               error=f"the files of task {task.name} differ from when the sweep began")


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def capped(ctx: TrialContext, path: Path, logs: dict[str, dict[str, int | str]], key: str,
           run: Callable[[int], T]) -> T:
    """``run`` with its output into a capped log (issue 11, item 6); notes the sizes in ``logs``."""
    log = CappedLog(path, ctx.log_cap_bytes)
    try:
        return run(log.write_fd)
    finally:
        logs[key] = log.close().to_dict()


def _harness_vars(task: TaskSpec, trial: Trial, workdir: Path, task_copy: Path,
                  profile: str) -> dict[str, str]:
    # Every path absolute (issue 11, item 2): the workload's cwd is not ours.
    return {
        "HARNESS_TASK": task.name, "HARNESS_TASK_DIR": str(task_copy.absolute()),
        "HARNESS_INSTRUCTION": str((task_copy / "instruction.md").absolute()),
        "HARNESS_WORKDIR": str(workdir.absolute()),
        "HARNESS_TRIAL_SEED": str(trial.seed_for_trial), "HARNESS_PROFILE": profile,
        "HARNESS_PYTHON": sys.executable,
    }


def _verifier_verdict(verifier: RunRecord, reward: Path) -> tuple[bool, float | None]:
    """Passed when the reward file says 1 (or more), else when the verifier exited 0."""
    if reward.exists():
        try:
            value = float(reward.read_text().strip())
        except ValueError:
            return False, None
        if not math.isfinite(value):  # "nan" would also be written as invalid JSON
            return False, None
        return value >= 1.0, value
    return verifier.exit_code == 0 and not verifier.timed_out, None


def _record(agent: RunRecord, verifier: RunRecord | None, reward: Path, ctx: TrialContext,
            task: TaskSpec, profile: Profile, trial: Trial, limits: LimitSettings,
            logs: dict[str, dict[str, int | str]], env_names: list[str]) -> TrialRecord:
    v: VerifierResult | None = None
    outcome: Outcome
    reason: InfraReason | None
    if verifier is None:
        outcome, reason = agent.outcome, agent.infra_reason
    else:
        passed, value = _verifier_verdict(verifier, reward)
        v = VerifierResult.of(verifier, value, passed)
        if agent.infra_reason in TAMPER_REASONS:
            # issue 11 (item 4): not run under its profile's limits; never counted under it.
            outcome, reason = "infra_error", agent.infra_reason
        elif verifier.outcome == "infra_error" or verifier.oom_kill_source is not None:
            outcome, reason = "infra_error", "verifier_error"
        else:
            verdict = combine(agent.oom_kill_source, agent.timed_out, passed)
            outcome, reason = verdict.outcome, verdict.infra_reason
    rec = trial_record(agent, ctx, task, profile, trial, limits, outcome=outcome, infra_reason=reason,
                       agent_outcome=agent.outcome, verifier=v)
    return dataclasses.replace(rec, logs=logs, env_names=env_names)


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
