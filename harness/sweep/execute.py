"""Running a sweep: plan, admit within the machine's budget, run, record each trial durably.

The manifest is written before the first trial and again at the end; every finished
trial is one fsynced line of trials.jsonl. A resume reads both, cleans what a killed
sweep left behind, and runs exactly the planned trials that have no line yet.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import __version__
from harness.cgroup.group import Cgroup
from harness.cgroup.workspace import Workspace, reap_stale_sessions, safe_name, session_alive
from harness.errors import HarnessError, ResultsError, UsageError
from harness.limits import LimitSettings
from harness.record import RunRecord
from harness.results import store
from harness.results.host import host_metadata
from harness.suite.parse import Suite, load_suite
from harness.suite.task import TaskSpec
from harness.sweep.agent import AgentTemplate
from harness.sweep.budget import Budget, check_plan
from harness.sweep.plan import Trial, parse_shard, plan_trials, shard_trials
from harness.sweep.profiles import Profile
from harness.sweep.progress import Progress
from harness.sweep.task_trial import TrialContext, run_task_trial, sweep_fields

MANIFEST_SCHEMA = 1
LOCK_FILE = ".harness.lock"


@dataclass
class SweepSettings:
    """Everything that defines a sweep's set of trials; stored in the manifest for --resume."""

    suite: Path
    profiles: list[Profile]
    repeats: int = 3
    seed: int = field(default_factory=lambda: secrets.randbelow(2**31))
    concurrency: int = 1
    agent: str = AgentTemplate().template
    tasks: list[str] | None = None
    shard: str | None = None  # "i/N"
    keep_workdirs: bool = False
    environment: str = "host"  # harness.environments: host | podman | auto
    agent_on: str = "container"
    verifier_limits: str = "none"
    pull: bool = False
    skip_broken_images: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["suite"] = str(self.suite)
        d["profiles"] = [p.to_dict() for p in self.profiles]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SweepSettings:
        d = dict(d)
        d["suite"] = Path(d["suite"])
        d["profiles"] = [Profile(**p) for p in d["profiles"]]
        return cls(**d)


@dataclass
class SweepResult:
    out_dir: Path
    planned: int
    done: int
    counts: dict[str, int]
    interrupted: bool = False

    @property
    def complete(self) -> bool:
        return self.done >= self.planned


class SweepInterrupted(HarnessError):
    """Ctrl-C or SIGTERM: finished trials are safe; the rest can be resumed."""


@dataclass
class _Plan:
    settings: SweepSettings
    suite: Suite
    trials: list[Trial]
    agent: AgentTemplate
    environments: dict[str, Any] = field(default_factory=dict)

    def task(self, name: str) -> TaskSpec:
        return self.suite.task(name)

    def profile(self, name: str) -> Profile:
        return next(p for p in self.settings.profiles if p.name == name)


def _plan(settings: SweepSettings) -> _Plan:
    if settings.repeats < 1:
        raise UsageError(f"--repeats {settings.repeats}: must be at least 1", "give --repeats 1 or more")
    if settings.concurrency < 1:
        raise UsageError(f"--concurrency {settings.concurrency}: must be at least 1", "give 1 or more")
    suite = load_suite(settings.suite, settings.tasks)
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
    return _Plan(settings, suite, trials, agent)


def _limits(plan: _Plan, trial: Trial) -> Any:
    return plan.profile(trial.profile).resolve(plan.task(trial.task))


def _cgroup_files(plan: _Plan) -> dict[str, dict[str, dict[str, str]]]:
    """Per profile, per distinct task spec: the cgroup files and values the agent phase gets."""
    out: dict[str, dict[str, dict[str, str]]] = {}
    for p in plan.settings.profiles:
        per_spec = out.setdefault(p.name, {})
        for t in plan.suite.tasks:
            key = f"{t.memory_bytes >> 20}M/{t.cpus:g}cpu"
            per_spec.setdefault(key, p.resolve(t).to_limit_settings().files())
    return out


def sweep_id(plan: _Plan) -> str:
    """Unique per sweep; the same for every shard of one plan (suite, profiles, repeats,
    seed), so that shards run on several machines are read as one sweep."""
    name = safe_name(plan.suite.name, 40)
    if plan.settings.shard is None:
        return f"{name}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
    key = json.dumps([plan.suite.checksum, [p.to_dict() for p in plan.settings.profiles],
                      plan.settings.repeats, plan.settings.seed, plan.settings.agent], sort_keys=True)
    return f"{name}-seed{plan.settings.seed}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def new_manifest(plan: _Plan, out_dir: Path, backend: str, budget: Budget) -> dict[str, Any]:
    host = host_metadata(backend)
    return {
        "schema": MANIFEST_SCHEMA,
        "sweep_id": sweep_id(plan),
        "harness_version": __version__,
        "python_version": host["python_version"],
        "suite": {"name": plan.suite.name, "path": str(plan.suite.path), "checksum": plan.suite.checksum,
                  "tasks": list(plan.suite.names),
                  "specs": {t.name: {"cpus": t.cpus, "memory_bytes": t.memory_bytes,
                                     "agent_timeout_sec": t.agent_timeout_sec,
                                     "verifier_timeout_sec": t.verifier_timeout_sec}
                            for t in plan.suite.tasks}},
        "settings": plan.settings.to_dict(),
        "profiles": [p.to_dict() for p in plan.settings.profiles],
        "seed": plan.settings.seed,
        "repeats": plan.settings.repeats,
        "concurrency": plan.settings.concurrency,
        "shard": plan.settings.shard,
        "agent": plan.settings.agent,
        "backend": backend,
        "host": host,
        "budget": budget.describe(),
        "cgroup_files": _cgroup_files(plan),
        "cgroup_fixed": {"memory.swap.max": "0", "memory.oom.group": "1",
                         "pids.max": str(LimitSettings().pids_max),
                         "cpu.weight": "Kubernetes mapping of declared CPUs",
                         "verifier": "own cgroup, no memory or CPU limit"},
        "n_trials_planned": len(plan.trials),
        "started_at": datetime.now(UTC).isoformat(),
        "finished_at": None,
        "invocations": [],
        "cgroup_sessions": [],
    }


def start(settings: SweepSettings, out_dir: Path, backend: str, cgroup_root: Path | None,
          progress_stream: Any = None) -> SweepResult:
    """A new sweep into ``out_dir``, which must not hold one already."""
    manifest_path = out_dir / store.MANIFEST_FILE
    if manifest_path.exists():
        done = store.read_manifest(out_dir).get("finished_at")
        raise UsageError(f"{out_dir} already holds a {'finished' if done else 'started'} sweep",
                         "choose another --out" + ("" if done else
                                                   f", or finish it: harness sweep --resume {out_dir}"))
    if out_dir.exists() and any(out_dir.iterdir()):
        raise UsageError(f"{out_dir} is not empty", "give a new or empty --out directory")
    plan = _plan(settings)
    budget = Budget.for_host(settings.concurrency)
    check_plan(budget, [(t.trial_id, _limits(plan, t)) for t in plan.trials])
    out_dir.mkdir(parents=True, exist_ok=True)
    environment = _prepare_environments(plan, out_dir, fresh=True)
    manifest = {**new_manifest(plan, out_dir, backend, budget), **environment}
    return _execute(plan, manifest, out_dir, backend, cgroup_root, budget, set(), progress_stream)


def resume(out_dir: Path, backend: str, cgroup_root: Path | None, progress_stream: Any = None) -> SweepResult:
    """Finish exactly the trials of ``out_dir`` that have no record yet."""
    manifest = store.read_manifest(out_dir)
    try:
        settings = SweepSettings.from_dict(manifest["settings"])
    except (KeyError, TypeError) as e:
        raise ResultsError(f"{out_dir}/manifest.json: no usable settings ({e})",
                           "resume only directories written by `harness sweep`") from None
    plan = _plan(settings)
    if plan.suite.checksum != manifest["suite"]["checksum"]:
        raise UsageError(f"the suite at {settings.suite} changed since the sweep began "
                         "(its checksum differs)",
                         "restore the suite as it was, or start a new sweep with another --out")
    trials_path = out_dir / store.TRIALS_FILE
    store.repair(trials_path)
    done = {r["trial_id"] for r in store.read_trials(trials_path).records} if trials_path.exists() else set()
    if settings.environment != "host":
        from harness.environments.setup import remove_leftover_containers

        remove_leftover_containers(manifest["sweep_id"], lambda s: bool(s) and Path(s).exists()
                                   and session_alive(Cgroup(Path(s))))
    _clean_leftovers(manifest, cgroup_root)
    shutil.rmtree(out_dir / "work", ignore_errors=True)
    manifest.update(_prepare_environments(plan, out_dir, fresh=False))
    budget = Budget.for_host(settings.concurrency)
    check_plan(budget, [(t.trial_id, _limits(plan, t)) for t in plan.trials if t.trial_id not in done])
    return _execute(plan, manifest, out_dir, backend, cgroup_root, budget, done, progress_stream)


def _prepare_environments(plan: _Plan, out_dir: Path, fresh: bool) -> dict[str, Any]:
    """Each task's environment and image (harness.environments.setup), before any trial."""
    from harness.environments.setup import EnvironmentOptions, prepare_environments

    s = plan.settings
    options = EnvironmentOptions(s.environment, s.agent_on, s.verifier_limits, s.pull, s.skip_broken_images)
    try:
        prepared = prepare_environments(options, plan.suite.tasks, out_dir / "images")
    except HarnessError:
        if fresh:  # refused before anything ran: leave --out as it was, empty
            shutil.rmtree(out_dir / "images", ignore_errors=True)
        raise
    plan.environments = prepared.environments
    plan.trials = [t for t in plan.trials if t.task not in prepared.skipped]
    return prepared.manifest


def _clean_leftovers(manifest: dict[str, Any], cgroup_root: Path | None) -> None:
    """Kill the trial processes and cgroups of earlier, killed invocations of this sweep."""
    for path in manifest.get("cgroup_sessions", []):
        session = Cgroup(Path(path))
        if session.path.exists() and not session_alive(session):
            session.kill()
            session.remove()
    try:
        from harness.cgroup.workspace import locate

        reap_stale_sessions(Cgroup(locate(cgroup_root).base), prefix=_session_hint(manifest))
    except HarnessError:
        pass


def _session_hint(manifest: dict[str, Any]) -> str:
    return safe_name(f"sweep-{manifest['sweep_id']}", 60)


def _execute(plan: _Plan, manifest: dict[str, Any], out_dir: Path, backend: str,
             cgroup_root: Path | None, budget: Budget, done: set[str],
             progress_stream: Any) -> SweepResult:
    remaining = [t for t in plan.trials if t.trial_id not in done]
    progress = Progress(len(plan.trials), done_before=len(plan.trials) - len(remaining),
                        stream=progress_stream)
    for warning in plan.suite.warnings:
        progress.note(f"warning: {warning}")
    with _exclusive(out_dir), Workspace.open(_session_hint(manifest), cgroup_root) as ws:
        manifest["cgroup_sessions"] = [*manifest.get("cgroup_sessions", []), str(ws.session.path)]
        manifest["invocations"] = [*manifest.get("invocations", []),
                                   {"started_at": datetime.now(UTC).isoformat(), "resumed": bool(done),
                                    "host": manifest["host"]["hostname"], "backend": backend}]
        store.write_json_atomic(out_dir / store.MANIFEST_FILE, manifest)
        ctx = TrialContext(ws, plan.agent, out_dir, backend, manifest["host"]["hostname"],
                           manifest["sweep_id"], plan.settings.keep_workdirs, plan.environments)

        def on_event(kind: str, events: dict[str, int]) -> None:
            progress.note(f"  {kind}: oom_kill={events.get('oom_kill')}")

        with store.TrialLog(out_dir / store.TRIALS_FILE) as log:
            interrupted = _run_all(ctx, plan, remaining, budget, log, progress, on_event)
    progress.close()
    complete = progress.done >= len(plan.trials)
    if complete:
        manifest["finished_at"] = datetime.now(UTC).isoformat()
        store.write_json_atomic(out_dir / store.MANIFEST_FILE, manifest)
    result = SweepResult(out_dir, len(plan.trials), progress.done, dict(progress.counts), interrupted)
    if interrupted:
        raise SweepInterrupted(f"interrupted: {progress.done} of {len(plan.trials)} trials are recorded "
                               f"in {out_dir}", f"resume with: harness sweep --resume {out_dir}")
    return result


@contextlib.contextmanager
def _exclusive(out_dir: Path) -> Iterator[None]:
    """One harness at a time per result directory: two would both append the same trials."""
    fd = os.open(out_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode().strip() or "?"
            raise UsageError(f"another harness (pid {holder}) is running the sweep in {out_dir}",
                             "wait for it to end, or stop it; then resume") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _run_all(ctx: TrialContext, plan: _Plan, remaining: list[Trial], budget: Budget,
             log: store.TrialLog, progress: Progress, on_event: Any) -> bool:
    """Run ``remaining`` in order, as many at once as the budget admits. True if interrupted."""
    pending = list(remaining)
    running: dict[Future[dict[str, Any]], Any] = {}
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
                log.append(rec)
                progress.trial_done(rec)
    except KeyboardInterrupt:
        # Kill every running trial; their records are incomplete and are not written.
        for child in ctx.workspace.session.children():
            if child.path.name != "supervisor":
                with contextlib.suppress(HarnessError):
                    child.kill()
        pool.shutdown(wait=True, cancel_futures=True)
        return True
    pool.shutdown(wait=True)
    return False


def _one(ctx: TrialContext, task: TaskSpec, profile: Profile, trial: Trial,
         on_event: Any) -> dict[str, Any]:
    try:
        return run_task_trial(ctx, task, profile, trial, on_event)
    except (HarnessError, OSError) as e:
        # The harness failed around the trial (disk, cgroup): an infra error on record.
        rec = RunRecord(outcome="infra_error", infra_reason="harness_error", exit_code=125,
                        returncode=None, signal=None, timed_out=False, wall_seconds=0.0, command=[],
                        started_at=datetime.now(UTC).isoformat(), harness_version=__version__,
                        backend=ctx.backend, error=str(e)).to_dict()
        rec.update(sweep_fields(ctx, profile, trial, profile.resolve(task)), agent_outcome=None,
                   verifier=None)
        return rec
