"""One trial: a workload in its own cgroup, watched until it ends, then measured and removed."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from harness import __version__
from harness.cgroup import counters
from harness.cgroup.group import Cgroup
from harness.cgroup.spawner import ServedProcess, Spawner, Stream
from harness.cgroup.workspace import Workspace
from harness.errors import CgroupError, SpawnError
from harness.exits import ExitStatus, killed_by
from harness.limits import LimitSettings
from harness.runner import confine, tamper
from harness.runner import timeline as timelines
from harness.runner.classify import classify, exit_status
from harness.runner.spawn import Process, resolve, spawn_in_cgroup
from harness.schema.record import InfraReason, RunRecord

EventCallback = Callable[[str, dict[str, int]], None]
_MAX_POLL_MS = 3_600_000


@dataclass
class RunSpec:
    command: list[str]
    limits: LimitSettings = field(default_factory=LimitSettings)
    cwd: str | None = None
    env: Mapping[str, str] | None = None
    timeout: float | None = None
    grace: float = 5.0  # seconds between SIGTERM and cgroup.kill on timeout
    stdin: Stream = None
    stdout: Stream = None
    stderr: Stream = None
    name: str = "run"
    new_session: bool = False  # keep the terminal's Ctrl-C away from the workload
    backend: str = "native"
    on_event: EventCallback | None = None  # called as OOM kills happen
    user: str | None = None  # run the workload as this (unprivileged) user
    confine: bool = False  # read-only cgroupfs and fewer capabilities (runner/confine.py)
    timeline: Path | None = None  # where to write the memory/CPU timeline (None: no sampling)
    sampling: timelines.SamplePolicy | None = field(default_factory=timelines.SamplePolicy)


def run_trial(ws: Workspace, spec: RunSpec) -> RunRecord:
    """Run ``spec`` in a fresh trial cgroup of ``ws``; never raises for the workload's doing."""
    started_at = datetime.now(UTC).isoformat()
    try:
        cg = ws.new_trial(spec.name)
    except CgroupError as e:
        return error_record(spec.command, spec.backend, str(e), started_at=started_at)
    try:
        return _run_in(cg, spec, started_at, ws.spawner())
    except SpawnError as e:
        not_startable = e.exit_code in (ExitStatus.NOT_FOUND, ExitStatus.NOT_EXECUTABLE)
        reason: InfraReason = "spawn_error" if not_startable else "harness_error"
        limits = _limits(cg)
        events = _memory_events(cg)
        verdict = classify(False, False, events, 0)  # who OOM-killed it, if anyone
        if verdict.infra_reason is None:
            return error_record(spec.command, spec.backend, str(e), started_at=started_at,
                                reason=reason, code=e.exit_code, limits=limits)
        # The workload ran out of memory while it was being started (exec copies its arguments
        # and environment into the new image, charged to the trial), and the OOM kill took the
        # spawn server, which was in the trial cgroup starting it: an OOM kill, not the server's
        # failure nor a hostile workload's.
        message = (f"OOM-killed while starting, at memory.max {limits.get('memory.max', '?')}: the kill "
                   f"took the spawn server that was starting it ({e.message})")
        rec = error_record(spec.command, spec.backend, message, started_at=started_at,
                           reason=verdict.infra_reason, code=killed_by(signal.SIGKILL), limits=limits)
        return replace(rec, memory_events=events, oom_kill_source=verdict.oom_kill_source)
    except CgroupError as e:
        return error_record(spec.command, spec.backend, str(e), started_at=started_at,
                            limits=_limits(cg))
    finally:
        try:
            cg.kill()
        finally:
            cg.remove()


def _memory_events(cg: Cgroup) -> dict[str, int]:
    try:
        return counters.memory_events(cg)
    except (CgroupError, OSError):
        return {}


def _limits(cg: Cgroup) -> dict[str, str]:
    return counters.read_limits(cg) if cg.path.exists() else {}


def error_record(command: list[str], backend: str, message: str, *, started_at: str | None = None,
                 reason: InfraReason = "harness_error", code: int = ExitStatus.HARNESS,
                 limits: dict[str, str] | None = None) -> RunRecord:
    """The record of a trial the harness could not run: an infra error, nothing measured."""
    return RunRecord(outcome="infra_error", infra_reason=reason, exit_code=int(code), returncode=None,
                     signal=None, timed_out=False, wall_seconds=0.0, command=list(command),
                     started_at=started_at or datetime.now(UTC).isoformat(),
                     harness_version=__version__, backend=backend, limits=limits or {}, error=message)


def _run_in(cg: Cgroup, spec: RunSpec, started_at: str, spawner: Spawner | None) -> RunRecord:
    for name, value in spec.limits.files().items():
        cg.write(name, value)
    limits = counters.read_limits(cg)
    ancestor_ooms_before = counters.ancestor_ooms(cg)
    watch = _Watch(cg, spec.on_event)
    t0 = time.monotonic()
    command = list(spec.command)
    if spec.confine:  # issue 11 (item 4): keep a root workload from its cgroup files
        command = confine.wrap([resolve(command, spec.env, spec.cwd), *command[1:]])
    proc = spawn_in_cgroup(cg, command, cwd=spec.cwd, env=spec.env, stdin=spec.stdin,
                           stdout=spec.stdout, stderr=spec.stderr, new_session=spec.new_session,
                           user=spec.user, spawner=spawner)
    where = tamper.cgroup_of(proc.pid)  # as /proc names it, to find processes that left it
    # Created after the spawn so the first sample is the workload's, not the harness's set-up.
    sampler = watch.sampler = (timelines.Sampler(cg, spec.sampling, t0)
                               if spec.timeline is not None and spec.sampling is not None else None)
    try:
        timed_out = _wait(proc, spec, cg, watch, t0)
        wall = time.monotonic() - t0
        returncode = proc.wait()
        # An OOM kill that ended the process may not have woken the loop yet: on the timeline
        # it comes before the exit it caused.
        watch.changed(at=t0 + wall)
        if sampler is not None:
            sampler.mark(t0 + wall, "exit")
    finally:
        watch.close()
        if sampler is not None:
            sampler.close()
    # The trial ends with its main process; whatever it left (double-forked, setsid,
    # ignoring signals) dies with the cgroup.
    leftovers = 0
    if cg.populated():
        leftovers = sum(len(c.pids()) for c in [cg, *cg.descendants()])
        cg.kill()
    measured = counters.collect(cg)
    if sampler is not None and spec.timeline is not None:
        timelines.write(spec.timeline, sampler.document(started_at, limits,
                                                       measured.memory_peak_bytes))
    ancestor_delta = counters.ancestor_ooms(cg) - ancestor_ooms_before
    code, sig = exit_status(returncode, timed_out)
    verdict = classify(code == 0 and not timed_out, timed_out, measured.memory_events, ancestor_delta)
    # issue 11 (item 4): a root workload can rewrite its limits or leave its cgroup; the
    # limits are read again now, and the session's processes outside the cgroup are found.
    # Either way it did not run under the limits on record: an infra error of its own.
    changed = tamper.changed_limits(limits, counters.read_limits(cg))
    marker = None
    if spec.env is not None and spec.env.get("HARNESS_WORKDIR"):  # a sweep's: unique per trial
        marker = f"HARNESS_WORKDIR={spec.env['HARNESS_WORKDIR']}"
    escaped = tamper.kill_escapees(proc.pid, where, marker) if spec.new_session and where else 0
    outcome, reason = verdict.outcome, verdict.infra_reason
    if changed or escaped:
        outcome, reason = "infra_error", ("limits_tampered" if changed else "escaped")
    first_oom = None if watch.first_oom_at is None else round(watch.first_oom_at - t0, 3)
    return RunRecord(
        outcome=outcome, infra_reason=reason, exit_code=code,
        returncode=returncode, signal=sig, timed_out=timed_out, wall_seconds=round(wall, 4),
        cpu_usage_usec=measured.cpu.get("usage_usec"), cpu_user_usec=measured.cpu.get("user_usec"),
        cpu_system_usec=measured.cpu.get("system_usec"), cpu_nr_periods=measured.cpu.get("nr_periods"),
        cpu_nr_throttled=measured.cpu.get("nr_throttled"),
        cpu_throttled_usec=measured.cpu.get("throttled_usec"),
        memory_peak_bytes=measured.memory_peak_bytes, memory_events=measured.memory_events,
        oom_kill_source=verdict.oom_kill_source, first_oom_kill_seconds=first_oom,
        pids_peak=measured.pids_peak, pids_max_events=measured.pids_max_events,
        leftover_processes_killed=leftovers, pressure=measured.pressure, limits=limits,
        limits_changed=changed, escaped_processes_killed=escaped,
        cgroup=str(cg.path), command=list(spec.command), started_at=started_at,
        harness_version=__version__, backend=spec.backend,
    )


class _Watch:
    """memory.events, watched with poll(): the kernel flags the file on every change."""

    def __init__(self, cg: Cgroup, on_event: EventCallback | None) -> None:
        self.fd = os.open(cg.file("memory.events"), os.O_RDONLY | os.O_CLOEXEC)
        self.on_event = on_event
        self.sampler: timelines.Sampler | None = None  # marks OOM kills on the timeline
        self.first_oom_at: float | None = None
        self.last = self.read()

    def read(self) -> dict[str, int]:
        from harness.cgroup.fs import parse_keyed

        return parse_keyed(os.pread(self.fd, 4096, 0).decode())

    def changed(self, at: float | None = None) -> None:
        """Take a change of memory.events; ``at``: when it is known to have happened by."""
        now = self.read()
        if now.get("oom_kill", 0) > self.last.get("oom_kill", 0):
            when = time.monotonic() if at is None else min(at, time.monotonic())
            if self.first_oom_at is None:
                self.first_oom_at = when
            if self.sampler is not None:
                self.sampler.mark(when, "oom_kill", count=now.get("oom_kill", 0))
            if self.on_event is not None:
                self.on_event("oom_kill", now)
        self.last = now

    def close(self) -> None:
        self.changed()  # a kill right before exit may not have woken us yet
        os.close(self.fd)


def _wait(proc: Process, spec: RunSpec, cg: Cgroup, watch: _Watch, t0: float) -> bool:
    """Wait for the main process; enforce the timeout. Returns whether it timed out."""
    # The spawn server's pidfd was opened before anyone could reap the process; a pid alone
    # could name another process once a dead server's orphan was reaped by init.
    pidfd = os.dup(proc.pidfd) if isinstance(proc, ServedProcess) else os.pidfd_open(proc.pid)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    poller.register(watch.fd, select.POLLPRI | select.POLLERR)
    deadline = None if spec.timeout is None else t0 + spec.timeout
    kill_at: float | None = None
    timed_out = False
    try:
        while True:
            now = time.monotonic()
            if deadline is not None and now >= deadline and not timed_out:
                timed_out = True
                if watch.sampler is not None:
                    watch.sampler.mark(now, "timeout")
                _signal_all(cg, signal.SIGTERM)
                kill_at = now + spec.grace
            if kill_at is not None and now >= kill_at:
                cg.kill()
                kill_at = None
            if watch.sampler is not None:
                watch.sampler.due(now)
            sample_at = None if watch.sampler is None else watch.sampler.next_at
            wake = [t for t in (deadline if not timed_out else None, kill_at, sample_at) if t is not None]
            # poll() takes a C int of milliseconds: wake at least hourly, so that any
            # finite timeout works (issue 11, item 8: 3,000,000 s raised OverflowError).
            wait_ms = _MAX_POLL_MS if not wake else min(_MAX_POLL_MS, max(0.0, min(wake) - now) * 1000)
            for fd, _ in poller.poll(wait_ms):
                if fd == watch.fd:
                    watch.changed()
                elif fd == pidfd:
                    return timed_out
    finally:
        os.close(pidfd)


def _signal_all(cg: Cgroup, sig: int) -> None:
    for pid in cg.pids():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
