"""From settings to a checked plan: the suite loaded, the agent validated, the trials in order;
then, before the first trial, each task's environment chosen and its image made ready."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError, UsageError
from harness.limits import LimitSettings
from harness.schema.settings import SweepSettings
from harness.suite.parse import Suite, load_suite
from harness.suite.task import TaskSpec
from harness.sweep import overrides
from harness.sweep.agent import AgentTemplate
from harness.sweep.plan import Trial, parse_shard, plan_trials, shard_trials
from harness.sweep.profiles import Profile

if TYPE_CHECKING:
    from harness.sweep.task_trial import Environment


@dataclass(frozen=True)
class SweepPlan:
    settings: SweepSettings
    suite: Suite
    trials: list[Trial]
    agent: AgentTemplate
    environments: Mapping[str, Environment] = field(default_factory=dict)  # set by with_environments

    def task(self, name: str) -> TaskSpec:
        return self.suite.task(name)

    def profile(self, name: str) -> Profile:
        return next(p for p in self.settings.profiles if p.name == name)

    def limits(self, trial: Trial) -> LimitSettings:
        return self.profile(trial.profile).resolve(self.task(trial.task))


def make_plan(settings: SweepSettings) -> SweepPlan:
    if settings.repeats < 1:
        raise UsageError(f"--repeats {settings.repeats}: must be at least 1", "give --repeats 1 or more")
    if settings.concurrency < 1:
        raise UsageError(f"--concurrency {settings.concurrency}: must be at least 1", "give 1 or more")
    tasks = None if settings.tasks is None else list(settings.tasks)
    suite = overrides.apply(load_suite(settings.suite, tasks), settings.spec_overrides)
    agent = AgentTemplate(settings.agent)
    agent.validate()
    if agent.is_oracle:
        missing = [t.name for t in suite.tasks if not t.has_oracle]
        if missing:
            raise UsageError(f"the oracle agent needs solution/solve.sh, missing in: {', '.join(missing)}",
                             "give --agent COMMAND, or --tasks without those tasks")
    if settings.environment != "host" and (settings.protect_limits or settings.agent_user is not None):
        # --protect-limits drops CAP_SYS_ADMIN, which rootful podman needs; and a container's
        # agent runs as the image's user. A container keeps its agent from the cgroup files.
        flag = "--protect-limits" if settings.protect_limits else "--agent-user"
        raise UsageError(f"{flag} cannot be combined with --environment {settings.environment}: "
                         "container trials run under rootful podman, which needs the privileges it drops",
                         f"drop {flag} (a container already keeps its agent from the cgroup files), "
                         "or give --environment host")
    trials = plan_trials(list(suite.tasks), settings.profiles, settings.repeats, settings.seed)
    if settings.shard:
        i, n = parse_shard(settings.shard)
        trials = shard_trials(trials, i, n)
    # issue 11 (items 12, 13): every limit the plan will write is checked against what the
    # kernel accepts now (LimitSettings refuses it), before the manifest exists.
    for p in settings.profiles:
        for t in suite.tasks:
            p.resolve(t)
    return SweepPlan(settings, suite, trials, agent)


def with_environments(plan: SweepPlan, out_dir: Path, *, fresh: bool) -> tuple[SweepPlan, dict[str, Any]]:
    """The plan with each task's environment and image ready (harness.environments.setup),
    without the trials of tasks skipped for a broken image; and the manifest's environment
    fields. Builds and pulls happen here, before any trial and outside every trial cgroup."""
    from harness.environments.setup import EnvironmentOptions, prepare_environments

    s = plan.settings
    options = EnvironmentOptions(s.environment, s.agent_on, s.verifier_limits, s.pull, s.skip_broken_images)
    try:
        prepared = prepare_environments(options, plan.suite.tasks, out_dir / "images")
    except HarnessError:
        if fresh:  # refused before anything ran: leave --out as it was, empty
            shutil.rmtree(out_dir / "images", ignore_errors=True)
        raise
    trials = [t for t in plan.trials if t.task not in prepared.skipped]
    return dataclasses.replace(plan, environments=prepared.environments, trials=trials), prepared.manifest
