"""The ``host`` environment: the task's scripts on this machine's files (see task_trial)."""

from __future__ import annotations

from dataclasses import replace

from harness.runner.trial import EventCallback
from harness.schema.record import TrialRecord
from harness.suite.task import TaskSpec
from harness.sweep.plan import Trial
from harness.sweep.profiles import Profile
from harness.sweep.task_trial import TrialContext, run_task_trial


class HostEnvironment:
    name = "host"

    def run_trial(self, ctx: TrialContext, task: TaskSpec, profile: Profile, trial: Trial,
                  on_event: EventCallback | None = None) -> TrialRecord:
        return run_task_trial(replace(ctx, environments={}), task, profile, trial, on_event)
