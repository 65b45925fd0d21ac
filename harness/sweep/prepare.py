"""From settings to a checked plan: the suite loaded, the agent validated, the trials in order."""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import UsageError
from harness.limits import LimitSettings
from harness.schema.settings import SweepSettings
from harness.suite.parse import Suite, load_suite
from harness.suite.task import TaskSpec
from harness.sweep import overrides
from harness.sweep.agent import AgentTemplate
from harness.sweep.plan import Trial, parse_shard, plan_trials, shard_trials
from harness.sweep.profiles import Profile


@dataclass(frozen=True)
class SweepPlan:
    settings: SweepSettings
    suite: Suite
    trials: list[Trial]
    agent: AgentTemplate

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
