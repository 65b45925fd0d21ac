"""A sweep through user-mode Linux (`Uml.sweep`/`resume`, `harness sweep --backend uml`):
in one guest or, with ``--concurrency`` above 1 on a host with several CPUs, in one guest
per CPU (uml_parts); and what a stop by signal means.

The guest's command line comes from the sweep's typed settings (guest_commands). The
result is an exit status as `harness sweep` gives it: a single guest prints its own
result and errors; this module speaks only for what happened around it.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.backends.guest_commands import resume_argv, sweep_argv
from harness.backends.uml import UmlError
from harness.errors import HarnessError
from harness.exits import ExitStatus, killed_by, status_for

if TYPE_CHECKING:
    from harness.schema.settings import SweepSettings

# The relay's status when one of these stopped the guest under the sweep (128+N). Not
# SIGINT: 130 is also the sweep's own clean stop, which printed its resume line itself.
_STOPS = frozenset(killed_by(s) for s in (signal.SIGTERM, signal.SIGHUP))


def start(settings: SweepSettings, out_dir: Path, *, cgroup_root: Path | None = None,
          mem: str | None = None, as_json: bool = False, disks: Sequence[str] = ()) -> int:
    """A new sweep into ``out_dir``; its exit status (ExitStatus.INTERRUPTED when a signal stopped it).

    A sweep that may run containers (``environment`` not ``host``) runs in one guest, which
    gets this host's images as a disk (`harness.environments.uml_handoff`)."""
    from harness.backends import uml_parts

    try:
        k = uml_parts.guests_for(settings, uml_parts.usable_cpus())
        if k > 1 and settings.environment != "host":
            print(f"harness: --environment {settings.environment} runs in one guest (the images are "
                  "handed to one guest); --concurrency applies inside it", file=sys.stderr)
        elif k > 1:
            return uml_parts.start(settings, out_dir, k, cgroup_root=cgroup_root, mem=mem,
                                   as_json=as_json)
    except HarnessError as e:
        return say_error(e)
    return _in_one_guest(sweep_argv(settings, out_dir, cgroup_root=cgroup_root, as_json=as_json),
                         out_dir, mem, disks, settings)


def resume(out_dir: Path, *, cgroup_root: Path | None = None, mem: str | None = None,
           as_json: bool = False, disks: Sequence[str] = ()) -> int:
    """Finish the sweep in ``out_dir`` (in as many guests as it was split over)."""
    from harness.backends import uml_parts

    try:
        parts = uml_parts.existing_parts(out_dir)
        if parts:
            return uml_parts.resume(out_dir, parts, cgroup_root=cgroup_root, mem=mem, as_json=as_json)
    except HarnessError as e:
        return say_error(e)
    return _in_one_guest(resume_argv(out_dir, cgroup_root=cgroup_root, as_json=as_json), out_dir, mem, disks,
                         None)


def _in_one_guest(argv: list[str], result_dir: Path, mem: str | None, disks: Sequence[str],
                  settings: SweepSettings | None) -> int:
    """Run ``harness ARGV`` (a sweep) in a guest; its exit status, INTERRUPTED when a signal stopped it.

    A signal that reaches only this harness is forwarded, and the sweep in the guest stops
    cleanly (130, with its own resume line). One that reaches the guest too (``scancel``
    without --batch, a Slurm time limit) kills the sweep mid-trial: what finished is on
    record, so it is an interruption too, and the resume line is ours to print.
    """
    from harness.backends.uml_relay import run_harness
    from harness.environments.uml_handoff import sweep_disks

    try:
        # settings None: a resume, whose manifest in result_dir says whether it uses podman.
        with sweep_disks(settings, result_dir if settings is None else None) as images:
            code = run_harness(argv, mem, (*disks, *images))
    except UmlError as e:
        # issue 11 (item 7): a guest that died under the sweep is the harness's failure (125):
        # a clear error and the command that resumes, never a traceback.
        return say_error(UmlError(e.message, f"{e.fix or 'what finished is recorded'} "
                                             f"(resume with: harness sweep --resume {result_dir})"))
    if code in _STOPS:
        name = signal.Signals(code - ExitStatus.SIGNAL_BASE).name
        print(f"harness: error: interrupted by {name}: the trials that finished are recorded; "
              f"resume with: harness sweep --resume {result_dir}", file=sys.stderr)
        return ExitStatus.INTERRUPTED
    return code


def say_error(error: HarnessError) -> int:
    """Say ``error`` on stderr as the CLI does; the exit status `harness sweep` gives it."""
    print(f"harness: error: {error}", file=sys.stderr)
    return status_for(error)


