"""Where trials run, as objects a library caller can use: `Native` runs sweeps and trials on
this host's cgroup v2, `Uml` runs the same in a user-mode Linux guest, `choose` picks one
as ``--backend auto|native|uml`` does.

    backend = choose("auto")
    result = backend.sweep(SweepSettings(suite=Path("suite"), profiles=parse_profiles("1x,3x")),
                           Path("results/run1"))
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from harness.backends.choose import resolve_backend
from harness.backends.guest_commands import harness_command, resume_argv, run_argv, sweep_argv
from harness.backends.protocol import backend_label, guest_environment
from harness.errors import HarnessError, Interrupted, UsageError
from harness.exits import ExitStatus
from harness.limits import LimitSettings
from harness.runner.spawn import Stream
from harness.runner.trial import EventCallback
from harness.schema.record import OUTCOME, RunRecord, category
from harness.schema.settings import SweepSettings

if TYPE_CHECKING:
    from harness.sweep.execute import SweepResult


class Backend(ABC):
    name: str

    @abstractmethod
    def sweep(self, settings: SweepSettings, out_dir: Path,
              progress: TextIO | None = None) -> SweepResult:
        """Run a new sweep into ``out_dir``."""

    @abstractmethod
    def resume(self, out_dir: Path, progress: TextIO | None = None) -> SweepResult:
        """Finish the sweep in ``out_dir``."""

    @abstractmethod
    def run(self, command: Sequence[str], limits: LimitSettings, *, timeout: float | None = None,
            grace: float = 5.0) -> RunRecord:
        """One trial of ``command`` under ``limits``."""


@dataclass(frozen=True)
class Native(Backend):
    """This host's cgroup v2 (also a guest's own, inside a guest)."""

    cgroup_root: Path | None = None
    name = "native"

    def sweep(self, settings: SweepSettings, out_dir: Path,
              progress: TextIO | None = None) -> SweepResult:
        from harness.sweep import execute

        return execute.start(settings, out_dir, backend_label(), self.cgroup_root, progress)

    def resume(self, out_dir: Path, progress: TextIO | None = None) -> SweepResult:
        from harness.sweep import execute

        return execute.resume(out_dir, backend_label(), self.cgroup_root, progress)

    def run(self, command: Sequence[str], limits: LimitSettings, *, timeout: float | None = None,
            grace: float = 5.0, stdout: Stream = None, on_event: EventCallback | None = None) -> RunRecord:
        from harness.cgroup.workspace import Workspace
        from harness.runner.trial import RunSpec, run_trial

        spec = RunSpec(command=list(command), limits=limits, timeout=timeout, grace=grace,
                       backend=backend_label(), stdout=stdout, on_event=on_event)
        with Workspace.open("run", self.cgroup_root) as ws:
            return run_trial(ws, spec)


@dataclass(frozen=True)
class Uml(Backend):
    """A fresh user-mode Linux guest per call (a real kernel with pure cgroup v2), running the
    harness natively inside over this host's files; output is relayed live."""

    cgroup_root: Path | None = None  # inside the guest
    mem: str | None = None  # guest RAM; default: `harness.backends.uml.default_guest_mem`
    disks: tuple[str, ...] = ()  # the guest's ubd disks (`harness.backends.uml.UmlGuest`)
    name = "uml"

    def call(self, argv: list[str]) -> int:
        """Run ``harness ARGV`` in a guest; its exit status."""
        from harness.backends.uml import default_guest_mem
        from harness.backends.uml_relay import run_once

        return run_once(harness_command(argv), cwd=os.getcwd(), env=guest_environment(),
                        mem=self.mem or default_guest_mem(), disks=list(self.disks))

    def sweep_status(self, settings: SweepSettings | None, out_dir: Path, *, resume: bool,
                     as_json: bool = False) -> int:
        """A new sweep (``settings``) or a resumed one in a guest; its exit status. A sweep
        that may run containers gets this host's images as a disk (harness.environments)."""
        from harness.environments.uml_handoff import sweep_disks

        with sweep_disks(settings, out_dir if resume else None) as disks:
            guest = dataclasses.replace(self, disks=(*self.disks, *disks))
            if resume:
                return guest.call(resume_argv(out_dir, cgroup_root=self.cgroup_root, as_json=as_json))
            assert settings is not None
            return guest.call(sweep_argv(settings, out_dir, cgroup_root=self.cgroup_root, as_json=as_json))

    def sweep(self, settings: SweepSettings, out_dir: Path,
              progress: TextIO | None = None) -> SweepResult:
        out_dir = out_dir.resolve()
        return _sweep_result(out_dir, self.sweep_status(settings, out_dir, resume=False))

    def resume(self, out_dir: Path, progress: TextIO | None = None) -> SweepResult:
        out_dir = out_dir.resolve()
        return _sweep_result(out_dir, self.sweep_status(None, out_dir, resume=True))

    def run(self, command: Sequence[str], limits: LimitSettings, *, timeout: float | None = None,
            grace: float = 5.0) -> RunRecord:
        from harness.results.store import read_trials

        # The guest sees the host's files at the same paths, except /tmp (its own tmpfs).
        with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="harness-run-") as tmp:
            path = Path(tmp) / "record.jsonl"
            status = self.call(run_argv(command, limits, timeout=timeout, grace=grace,
                                        cgroup_root=self.cgroup_root, record=path))
            records = read_trials(path).records if path.exists() else []
        if not records:
            raise HarnessError(f"the trial did not run in the user-mode Linux guest (exit {status})",
                               "see the messages above; `harness doctor` checks the guest")
        return RunRecord.from_json(records[-1], f"{path}:1")


def _sweep_result(out_dir: Path, status: int) -> SweepResult:
    """The result of a sweep the guest ran, from its exit status and its result directory."""
    from harness.results import store
    from harness.sweep.execute import SweepResult

    if status == ExitStatus.INTERRUPTED:
        raise Interrupted(f"the sweep in the guest was interrupted; {out_dir} keeps what finished",
                          f"resume with: harness sweep --resume {out_dir}")
    if status == ExitStatus.BAD_INPUT:
        raise UsageError("the sweep in the guest refused its input (the reason is above)",
                         "correct it and run again")
    if status != ExitStatus.OK:
        raise HarnessError(f"the sweep in the guest failed (exit {status})", "see the messages above")
    manifest = store.read_manifest(out_dir)
    records = store.read_trials(out_dir / store.TRIALS_FILE).records
    counts: Counter[str] = Counter(category(str(r[OUTCOME])) for r in records)
    return SweepResult(out_dir, manifest.n_trials_planned, len(records), dict(counts))


def choose(requested: str = "auto", cgroup_root: Path | None = None, mem: str | None = None) -> Backend:
    """The backend for ``auto|native|uml``: a clear CgroupError when neither can run trials."""
    if resolve_backend(requested, cgroup_root) == "native":
        return Native(cgroup_root)
    return Uml(cgroup_root, mem)
