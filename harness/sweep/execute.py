"""Starting and resuming a sweep: check the plan against the machine's budget, write the
manifest, run the remaining trials (`harness.sweep.scheduler`), mark the manifest finished.

The manifest is written before the first trial and again at the end; every finished
trial is one fsynced line of trials.jsonl. A resume reads both, cleans what a killed
sweep left behind, and runs exactly the planned trials that have no line yet.
"""

from __future__ import annotations

import contextlib
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
    if (out_dir / store.MANIFEST_FILE).exists():
        done = store.read_manifest(out_dir).finished_at
        raise UsageError(f"{out_dir} already holds a {'finished' if done else 'started'} sweep",
                         "choose another --out" + ("" if done else
                                                   f", or finish it: harness sweep --resume {out_dir}"))
    if out_dir.exists() and any(out_dir.iterdir()):
        raise UsageError(f"{out_dir} is not empty", "give a new or empty --out directory")
    plan = make_plan(settings)
    budget = Budget.for_host(settings.concurrency)
    check_plan(budget, [(t.trial_id, plan.limits(t)) for t in plan.trials])
    out_dir.mkdir(parents=True, exist_ok=True)
    plan, environments = with_environments(plan, out_dir, fresh=True)
    manifest = new_manifest(plan, backend, budget.describe()).with_environments(environments)
    return _execute(plan, manifest, out_dir, backend, cgroup_root, budget, set(), progress_stream)


def resume(out_dir: Path, backend: str, cgroup_root: Path | None,
           progress_stream: TextIO | None = None) -> SweepResult:
    """Finish exactly the trials of ``out_dir`` that have no record yet."""
    manifest = store.read_manifest(out_dir)
    if manifest.finished_at is not None:
        raise UsageError(f"{out_dir}: the sweep finished at {manifest.finished_at}; nothing to resume",
                         f"report it: harness report {out_dir}")
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
    if manifest.settings.environment != "host":  # before the cgroups: a container's live in them
        from harness.environments.setup import remove_leftover_containers

        remove_leftover_containers(manifest.sweep_id, _session_alive)
    _clean_leftovers(manifest, cgroup_root)
    shutil.rmtree(out_dir / "work", ignore_errors=True)
    plan, environments = with_environments(plan, out_dir, fresh=False)
    manifest = manifest.with_environments(environments)
    budget = Budget.for_host(manifest.settings.concurrency)
    check_plan(budget, [(t.trial_id, plan.limits(t)) for t in plan.trials if t.trial_id not in done])
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
    with exclusive(out_dir), Workspace.open(session_hint(manifest), cgroup_root) as ws:
        manifest = manifest.with_invocation(
            Invocation(started_at=datetime.now(UTC).isoformat(), resumed=bool(done),
                       host=manifest.host.hostname, backend=backend), str(ws.session.path))
        store.write_manifest(out_dir, manifest)
        ctx = TrialContext(ws, plan.agent, out_dir, backend, manifest.host.hostname,
                           manifest.sweep_id, plan.settings.keep_workdirs,
                           sampling=policy_for(plan.settings.sample_interval), environments=plan.environments)

        def on_event(kind: str, events: dict[str, int]) -> None:
            progress.note(f"  {kind}: oom_kill={events.get('oom_kill')}")

        with store.TrialLog(out_dir / store.TRIALS_FILE) as log:
            interrupted = run_all(ctx, plan, remaining, budget, log, progress, on_event)
    progress.close()
    if progress.done >= len(plan.trials):
        store.write_manifest(out_dir, manifest.finished(datetime.now(UTC).isoformat()))
    result = SweepResult(out_dir, len(plan.trials), progress.done, dict(progress.counts), interrupted)
    if interrupted:
        raise Interrupted(f"interrupted: {progress.done} of {len(plan.trials)} trials are recorded "
                          f"in {out_dir}", f"resume with: harness sweep --resume {out_dir}")
    return result
