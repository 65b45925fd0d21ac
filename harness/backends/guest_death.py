"""Why a user-mode Linux guest died under a command, said plainly.

A guest dies under a running command for one of a few reasons, and each needs another
fix: a signal sent to every process of a job (``scancel`` without ``--batch``, a Slurm
time limit, ``kill`` of the process group) stops ``linux.uml`` itself — it exits with
status 1 and prints nothing — together with the harness that relays it; a signal to
``linux.uml`` alone (the host's OOM killer sends SIGKILL); the guest's own memory
running out (a kernel panic, or the guest agent killed). Only the last is a memory
problem, so only it says so.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Sequence
from typing import NamedTuple

# How long to wait, once a guest is found dead, for the signal that may have stopped it
# to reach us too: a job's processes are signalled one after the other.
SIGNAL_GRACE = 1.0
_AGENT_KILLED = "agent exited with status 137"


class Why(NamedTuple):
    """What happened to a guest and the fix: a `UmlError`'s arguments (`UmlGuest.death`)."""

    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.message}\n  fix: {self.fix}"


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def await_signal(received: Sequence[int], grace: float = SIGNAL_GRACE) -> int | None:
    """The first signal in ``received`` (filled by a handler), waiting up to ``grace`` s."""
    deadline = time.monotonic() + grace
    while not received and time.monotonic() < deadline:
        time.sleep(0.05)
    return received[0] if received else None


def stopped(signum: int) -> Why:
    """A guest stopped by ``signum``, which reached this harness too."""
    name = signal_name(signum)
    return Why(
        f"the UML guest was stopped by {name}, which reached it as well as this harness "
        "(as `scancel` without --batch, a Slurm time limit, or a signal to the process group does); "
        "the command in it did not finish",
        "what finished is recorded: resume it (to stop cleanly, signal only the harness, "
        "e.g. scancel --batch --signal=TERM)",
    )


def died(returncode: int | None, console: str, console_tail: str) -> Why:
    """The error for a guest that died on its own account (no signal reached us)."""
    lowered = console.lower()
    if "out of memory" in lowered or _AGENT_KILLED in console:
        return Why(f"the UML guest ran out of memory while running a command\n{console_tail}",
                        "give the guest more memory (HARNESS_UML_MEM, or a larger Slurm --mem), "
                        "or run fewer trials at once")
    if returncode is not None and returncode < 0:
        name = signal_name(-returncode)
        why = (" (the host's OOM killer sends SIGKILL when the host runs out of memory: see dmesg)"
               if -returncode == signal.SIGKILL else "")
        return Why(f"the UML guest (linux.uml) was killed by {name} from outside{why}\n{console_tail}",
                        "find what sends it; what finished is recorded: resume it")
    return Why(f"the UML guest died while running a command (linux.uml exited with status "
                    f"{returncode}; it exits 1 without a word when sent SIGTERM, SIGINT or SIGHUP)"
                    f"\n{console_tail}",
                    "see the console log; if something outside stopped it, resume")
