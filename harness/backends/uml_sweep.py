"""`harness sweep --backend uml`: the sweep in a guest, and what a stop by signal means."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from harness.backends.uml import UmlError
from harness.errors import UsageError

if TYPE_CHECKING:
    from harness.sweep.execute import SweepSettings

EXIT_INTERRUPTED = 130
# The relay's status when one of these stopped the guest under the sweep (128+N). Not
# SIGINT: 130 is also the sweep's own clean stop, which printed its resume line itself.
_STOPS = frozenset(128 + s for s in (signal.SIGTERM, signal.SIGHUP))


def sweep_in_uml(argv: list[str], result_dir: Path | None, settings: SweepSettings | None = None,
                 as_json: bool = False) -> int:
    """Run ``harness ARGV`` (a sweep) in a guest; its exit status, 130 when a signal stopped it.

    A new sweep with ``--concurrency`` above 1 on a host with several CPUs runs in several
    guests instead, one part each (uml_parts); its resume does too.

    A signal that reaches only this harness is forwarded, and the sweep in the guest stops
    cleanly (130, with its own resume line). One that reaches the guest too (``scancel``
    without --batch, a Slurm time limit) kills the sweep mid-trial: what finished is on
    record, so it is an interruption too, and the resume line is ours to print.
    """
    from harness.backends import uml_parts
    from harness.backends.choose import run_in_uml

    try:
        if result_dir is not None and settings is not None:
            k = uml_parts.guests_for(settings, uml_parts.usable_cpus())
            if k > 1:
                return uml_parts.start(argv, settings, result_dir, k, as_json)
        elif result_dir is not None and (parts := uml_parts.existing_parts(result_dir)):
            return uml_parts.resume(result_dir, parts, as_json)
    except UsageError as e:
        print(f"harness: error: {e}", file=sys.stderr)
        return 2
    try:
        code = run_in_uml(argv)
    except UmlError as e:
        print(f"harness: error: {e}", file=sys.stderr)
        return 125
    if code in _STOPS:
        where = f"; resume with: harness sweep --resume {result_dir}" if result_dir is not None else ""
        print(f"harness: error: interrupted by {signal.Signals(code - 128).name}: the trials that "
              f"finished are recorded{where}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code
