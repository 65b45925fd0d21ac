"""The seam between a sweep trial and where it runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from harness.runner.trial import EventCallback
    from harness.suite.task import TaskSpec
    from harness.sweep.plan import Trial
    from harness.sweep.profiles import Profile
    from harness.sweep.task_trial import TrialContext


class Environment(Protocol):
    """Runs one trial of a task to its end and returns its record (not yet written).

    Every environment puts the agent phase under the profile's limits in a trial cgroup
    of the harness's own, reads OOM kills and counters from it exactly as a host trial
    does, and leaves nothing behind (no process, no cgroup, no container).
    """

    name: str

    def run_trial(self, ctx: TrialContext, task: TaskSpec, profile: Profile, trial: Trial,
                  on_event: EventCallback | None = None) -> dict[str, Any]: ...
