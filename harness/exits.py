"""Exit statuses of every command, and the one place that maps an error to a status.

`harness run` exits as timeout(1) and `docker run` do: the command's own status, 124 timed
out, 125 the harness failed, 126 not executable, 127 not found, 128+N killed by signal N.
`sweep`: 0 done, 2 bad input, 125 the harness failed, 130 interrupted. `compare`: 0
reproduced, 1 different, 3 inconclusive, 2 bad input. `doctor`: 0 trials can run, 1 not.
"""

from __future__ import annotations

import signal
from enum import IntEnum

from harness.errors import HarnessError, Interrupted, ResultsError, UsageError


class ExitStatus(IntEnum):
    OK = 0
    DIFFERENT = 1  # compare: a significant difference
    CANNOT_RUN = 1  # doctor: trials cannot run here
    BAD_INPUT = 2
    INCONCLUSIVE = 3  # compare: too few trials to say
    TIMEOUT = 124
    HARNESS = 125
    NOT_EXECUTABLE = 126
    NOT_FOUND = 127
    SIGNAL_BASE = 128
    INTERRUPTED = 128 + signal.SIGINT  # 130


def killed_by(signum: int) -> int:
    """The status of a process killed by ``signum`` (128+N)."""
    return int(ExitStatus.SIGNAL_BASE) + int(signum)


def status_for(error: BaseException, harness_default: ExitStatus = ExitStatus.HARNESS) -> int:
    """The exit status for an error that ends a command.

    Bad input (a flag, a suite, a result directory) is 2 where nothing ran yet; the harness's
    own failures are ``harness_default`` (125). `harness run` passes HARNESS for both, as
    timeout(1) reserves 125 for any failure of its own.
    """
    if isinstance(error, Interrupted | KeyboardInterrupt):
        return ExitStatus.INTERRUPTED
    if isinstance(error, UsageError | ResultsError):
        return ExitStatus.BAD_INPUT
    if isinstance(error, HarnessError):
        return harness_default
    return ExitStatus.HARNESS
