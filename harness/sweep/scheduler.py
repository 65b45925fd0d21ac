"""Running the remaining trials in plan order, as many at once as the budget admits, each
record written durably as it finishes."""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from harness.errors import HarnessError, UsageError
from harness.limits import LimitSettings
from harness.results import store
from harness.runner.trial import EventCallback
from harness.schema.record import TrialRecord
from harness.suite.task import TaskSpec
from harness.sweep.budget import Budget
from harness.sweep.plan import Trial
from harness.sweep.prepare import SweepPlan
from harness.sweep.profiles import Profile
from harness.sweep.progress import Progress
from harness.sweep.task_trial import TrialContext, harness_error_trial, run_task_trial


def run_all(ctx: TrialContext, plan: SweepPlan, remaining: list[Trial], budget: Budget,
            log: store.TrialLog, progress: Progress, on_event: EventCallback) -> bool:
    """Run ``remaining`` in order; True if interrupted (running trials killed, not recorded)."""
    pending = list(remaining)
    running: dict[Future[TrialRecord], LimitSettings] = {}
    pool = ThreadPoolExecutor(max_workers=budget.concurrency, thread_name_prefix="trial")
    try:
        while pending or running:
            while pending:
                trial = pending[0]
                task, profile = plan.task(trial.task), plan.profile(trial.profile)
                limits = profile.resolve(task)
                if not budget.can_start(limits):
                    if not running:  # check_plan rules this out; never spin on it
                        raise UsageError(f"{trial.trial_id} cannot start on this host: {budget}",
                                         "run it on a larger machine")
                    break
                pending.pop(0)
                budget.start(limits)
                running[pool.submit(_one, ctx, task, profile, trial, on_event)] = limits
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                budget.finish(running.pop(fut))
                rec = fut.result()
                log.append(rec.to_json())
                progress.trial_done(rec)
    except KeyboardInterrupt:
        ctx.workspace.kill_trials()
        pool.shutdown(wait=True, cancel_futures=True)
        return True
    pool.shutdown(wait=True)
    return False


def _one(ctx: TrialContext, task: TaskSpec, profile: Profile, trial: Trial,
         on_event: EventCallback) -> TrialRecord:
    try:
        return run_task_trial(ctx, task, profile, trial, on_event)
    except (HarnessError, OSError) as e:
        return harness_error_trial(ctx, task, profile, trial, str(e))
