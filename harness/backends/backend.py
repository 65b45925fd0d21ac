"""Where trials run, as objects a library caller can use: `Native` runs sweeps and trials on
this host's cgroup v2, `Uml` runs the same in a user-mode Linux guest, `choose` picks one
as ``--backend auto|native|uml`` does.

    backend = choose("auto")
    result = backend.sweep(SweepSettings(suite=Path("suite"), profiles=parse_profiles("1x,3x")),
                           Path("results/run1"))
"""

from __future__ import annotations

import tempfile
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from harness.backends.choose import resolve_backend
from harness.backends.guest_commands import run_argv
from harness.backends.protocol import backend_label
from harness.cgroup.spawner import Stream
from harness.errors import HarnessError, Interrupted, UsageError
from harness.exits import ExitStatus
from harness.limits import LimitSettings
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
        from harness.backends.uml_parts import existing_parts
        from harness.sweep import execute

        parts = existing_parts(out_dir)
        if parts:  # its manifests are the parts': without this, "no manifest" and no reason
            raise UsageError(f"{out_dir} holds a sweep split over {len(parts)} user-mode Linux guests "
                             f"({', '.join(p.name for p in parts)}); a native resume takes one result "
                             "directory", f"resume it as it ran: harness sweep --resume {out_dir} "
                             "--backend uml")
        return execute.resume(out_dir, backend_label(), self.cgroup_root, progress)

    def run(self, command: Sequence[str], limits: LimitSettings, *, timeout: float | None = None,
            grace: float = 5.0, stdout: Stream = None, on_event: EventCallback | None = None,
            timeline: Path | None = None) -> RunRecord:
        """``timeline``: where to write the trial's memory/CPU timeline (None: not sampled)."""
        from harness.cgroup.workspace import Workspace
        from harness.runner.trial import RunSpec, run_trial

        spec = RunSpec(command=list(command), limits=limits, timeout=timeout, grace=grace,
                       backend=backend_label(), stdout=stdout, on_event=on_event, timeline=timeline)
        with Workspace.open("run", self.cgroup_root) as ws:
            return run_trial(ws, spec)


@dataclass(frozen=True)
class Uml(Backend):
    """A fresh user-mode Linux guest per call (a real kernel with pure cgroup v2), running the
    harness natively inside over this host's files; output is relayed live."""

    cgroup_root: Path | None = None  # inside the guest
    mem: str | None = None  # guest RAM; default: `harness.backends.uml.default_guest_mem`
    disks: tuple[str, ...] = ()  # more ubd disks for the guest (`harness.backends.uml.UmlGuest`)
    name = "uml"

    def call(self, argv: list[str]) -> int:
        """Run ``harness ARGV`` in a guest; its exit status."""
        from harness.backends.uml_relay import run_harness

        return run_harness(argv, self.mem, self.disks)

    def sweep(self, settings: SweepSettings, out_dir: Path,
              progress: TextIO | None = None) -> SweepResult:
        """In one guest, or one per CPU with ``concurrency`` above 1 (`uml_parts`)."""
        from harness.backends import uml_sweep

        out_dir = out_dir.resolve()
        return _sweep_result(out_dir, uml_sweep.start(settings, out_dir, cgroup_root=self.cgroup_root,
                                                      mem=self.mem, disks=self.disks))

    def resume(self, out_dir: Path, progress: TextIO | None = None) -> SweepResult:
        from harness.backends import uml_sweep

        out_dir = out_dir.resolve()
        return _sweep_result(out_dir, uml_sweep.resume(out_dir, cgroup_root=self.cgroup_root, mem=self.mem,
                                                       disks=self.disks))

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
    """The result of a sweep the guest(s) ran, from the exit status and the result directory
    (or its parts, one per guest)."""
    from harness.backends.uml_parts import result_dirs
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
    dirs = result_dirs(out_dir)
    planned = sum(store.read_manifest(d).n_trials_planned for d in dirs)
    records = [r for d in dirs for r in store.read_trials(d / store.TRIALS_FILE).records]
    counts: Counter[str] = Counter(category(str(r[OUTCOME])) for r in records)
    return SweepResult(out_dir, planned, len(records), dict(counts))


def choose(requested: str = "auto", cgroup_root: Path | None = None, mem: str | None = None) -> Backend:
    """The backend for ``auto|native|uml``: a clear CgroupError when neither can run trials."""
    if resolve_backend(requested, cgroup_root) == "native":
        return Native(cgroup_root)
    return Uml(cgroup_root, mem)
