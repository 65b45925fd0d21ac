"""Starting and resuming a sweep: check the plan against the machine's budget, write the
manifest, run the remaining trials (`harness.sweep.scheduler`), mark the manifest finished.

The manifest is written before the first trial and again at the end; every finished
trial is one fsynced line of trials.jsonl. A resume reads both, cleans what a killed
sweep left behind, and runs exactly the planned trials that have no line yet.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from harness.cgroup.group import Cgroup
from harness.cgroup.workspace import Workspace, locate, reap_stale_sessions, session_alive
from harness.errors import HarnessError, Interrupted, ResultsError, UsageError
from harness.results import store
from harness.runner.timeline import policy_for
from harness.schema.manifest import Invocation, Manifest
from harness.schema.record import TRIAL_ID
from harness.schema.settings import SweepSettings
from harness.suite.parse import suite_changed
from harness.suite.task_copy import task_digest
from harness.sweep import outdir
from harness.sweep.budget import Budget, check_plan
from harness.sweep.lock import exclusive
from harness.sweep.manifest import new_manifest, session_hint
from harness.sweep.prepare import SweepPlan, make_plan, with_environments
from harness.sweep.progress import Progress
from harness.sweep.scheduler import run_all
from harness.sweep.task_trial import TrialContext


@dataclass(frozen=True)
class SweepResult:
    out_dir: Path
    planned: int
    done: int
    counts: dict[str, int]
    interrupted: bool = False

    @property
    def complete(self) -> bool:
        return self.done >= self.planned


def start(settings: SweepSettings, out_dir: Path, backend: str, cgroup_root: Path | None,
          progress_stream: TextIO | None = None) -> SweepResult:
    """A new sweep into ``out_dir``, which must not hold one already."""
    # issue 11 (items 2, 9): absolute (the workloads run elsewhere), and a bad --out is
    # refused before anything is written.
    out_dir = outdir.check_new(out_dir)
    plan = make_plan(settings)
    outdir.check_apart(out_dir, plan.suite.path)
    budget = Budget.for_host(settings.concurrency)
    check_plan(budget, [(t.trial_id, plan.limits(t)) for t in plan.trials])
    outdir.create(out_dir)
    with exclusive(out_dir):
        outdir.check_new(out_dir)  # again under the lock: another harness may have started here
        plan, environments = with_environments(plan, out_dir, fresh=True)
        manifest = new_manifest(plan, backend, budget.describe()).with_environments(environments)
        return _execute(plan, manifest, out_dir, backend, cgroup_root, budget, set(), progress_stream)


def check_resumable(out_dir: Path) -> None:
    """Raise the error ``resume(out_dir)`` would for a bad directory or manifest; reads only
    (the lock is taken by resume itself)."""
    out = outdir.check_existing(out_dir)
    manifest = store.read_manifest(out)
    if manifest.finished_at is not None:
        raise _finished(out, manifest)


def _finished(out_dir: Path, manifest: Manifest) -> UsageError:
    return UsageError(f"{out_dir}: the sweep finished at {manifest.finished_at}; nothing to resume",
                      f"report it: harness report {out_dir}")


def resume(out_dir: Path, backend: str, cgroup_root: Path | None,
           progress_stream: TextIO | None = None) -> SweepResult:
    """Finish exactly the trials of ``out_dir`` that have no record yet."""
    out_dir = outdir.check_existing(out_dir)
    # issue 11 (item 1): the lock first. A refused resume must not touch the directory of
    # the sweep that holds it (it used to remove DIR/work under the running trials).
    with exclusive(out_dir):
        return _resume(out_dir, backend, cgroup_root, progress_stream)


def _resume(out_dir: Path, backend: str, cgroup_root: Path | None,
            progress_stream: TextIO | None) -> SweepResult:
    manifest = store.read_manifest(out_dir)
    if manifest.finished_at is not None:
        raise _finished(out_dir, manifest)
    plan = make_plan(manifest.settings)
    if plan.suite.checksum != manifest.suite.checksum:
        raise UsageError(f"the suite at {manifest.settings.suite} changed since the sweep began "
                         "(its checksum differs)",
                         "restore the suite as it was, or start a new sweep with another --out")
    trials_path = out_dir / store.TRIALS_FILE
    store.repair(trials_path)
    done = ({r[TRIAL_ID] for r in store.read_trials(trials_path).records} if trials_path.exists()
            else set())
    unknown = done - {t.trial_id for t in plan.trials}
    if unknown:
        raise ResultsError(f"{trials_path} records trials the sweep never planned: "
                           f"{', '.join(sorted(unknown)[:5])}",
                           "resume only the directory `harness sweep` wrote, with its own suite")
    budget = Budget.for_host(manifest.settings.concurrency)
    check_plan(budget, [(t.trial_id, plan.limits(t)) for t in plan.trials if t.trial_id not in done])
    # Refusals first: nothing is touched before them (and all under the lock).
    if manifest.settings.environment != "host":  # before the cgroups: a container's live in them
        from harness.environments.setup import remove_leftover_containers

        remove_leftover_containers(manifest.sweep_id, _session_alive)
    _clean_leftovers(manifest, cgroup_root)
    shutil.rmtree(out_dir / "work", ignore_errors=True)
    plan, environments = with_environments(plan, out_dir, fresh=False)
    manifest = manifest.with_environments(environments)
    return _execute(plan, manifest, out_dir, backend, cgroup_root, budget, done, progress_stream)


def _session_alive(path: str) -> bool:
    """Whether the cgroup session at ``path`` still has a harness running (another shard)."""
    return bool(path) and Path(path).exists() and session_alive(Cgroup(Path(path)))


def _clean_leftovers(manifest: Manifest, cgroup_root: Path | None) -> None:
    """Kill the trial processes and cgroups of earlier, killed invocations of this sweep."""
    for path in manifest.cgroup_sessions:
        session = Cgroup(Path(path))
        if session.path.exists() and not session_alive(session):
            session.kill()
            session.remove()
    with contextlib.suppress(HarnessError):
        reap_stale_sessions(Cgroup(locate(cgroup_root).base), prefix=session_hint(manifest))


def _execute(plan: SweepPlan, manifest: Manifest, out_dir: Path, backend: str,
             cgroup_root: Path | None, budget: Budget, done: set[str],
             progress_stream: TextIO | None) -> SweepResult:
    remaining = [t for t in plan.trials if t.trial_id not in done]
    progress = Progress(len(plan.trials), done_before=len(plan.trials) - len(remaining),
                        stream=progress_stream)
    for warning in plan.suite.warnings:
        progress.note(f"warning: {warning}")
    with Workspace.open(session_hint(manifest), cgroup_root) as ws:  # the caller holds the lock
        ws.start_spawner()  # now, while this process has one thread: forked, not executed
        manifest = manifest.with_invocation(
            Invocation(started_at=datetime.now(UTC).isoformat(), resumed=bool(done),
                       host=manifest.host.hostname, backend=backend), str(ws.session.path))
        store.write_manifest(out_dir, manifest)
        s = plan.settings
        ctx = TrialContext(ws, plan.agent, out_dir, backend, manifest.host.hostname,
                           manifest.sweep_id, s.keep_workdirs, sampling=policy_for(s.sample_interval),
                           environments=plan.environments, suite_root=plan.suite.path,
                           pass_env=s.pass_env, log_cap_bytes=s.log_cap_bytes, agent_user=s.agent_user,
                           protect_limits=s.protect_limits,
                           task_digests={t.name: task_digest(t.path, t.path != plan.suite.path)
                                         for t in plan.suite.tasks})

        def on_event(kind: str, events: dict[str, int]) -> None:
            progress.note(f"  {kind}: oom_kill={events.get('oom_kill')}")

        with store.TrialLog(out_dir / store.TRIALS_FILE) as log:
            interrupted = run_all(ctx, plan, remaining, budget, log, progress, on_event)
    progress.close()
    complete = progress.done >= len(plan.trials)
    # issue 11 (item 5): a workload may have edited the suite itself; check it again.
    changed = suite_changed(plan.suite)
    if changed:
        manifest = dataclasses.replace(
            manifest, suite=dataclasses.replace(manifest.suite, changed_during_sweep=True))
    if complete:
        manifest = manifest.finished(datetime.now(UTC).isoformat())
    if complete or changed:
        store.write_manifest(out_dir, manifest)
    if changed:
        raise HarnessError(f"the suite at {plan.suite.path} changed during the sweep (its checksum "
                           "differs): a workload may have edited it; the records in "
                           f"{out_dir} are suspect (manifest: suite.changed_during_sweep)",
                           "restore the suite and run the sweep again into a new --out")
    result = SweepResult(out_dir, len(plan.trials), progress.done, dict(progress.counts), interrupted)
    if interrupted:
        raise Interrupted(f"interrupted: {progress.done} of {len(plan.trials)} trials are recorded "
                          f"in {out_dir}", f"resume with: harness sweep --resume {out_dir}")
    return result
