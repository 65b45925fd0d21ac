"""The trial record: the one schema that the runner writes and sweeps, reports and compares read.

A `harness run` produces a `RunRecord`. A sweep trial is a JSON object holding the
agent phase's `RunRecord` fields at top level, with the sweep's own fields beside them
(see `SWEEP_FIELDS`) and the verifier's result under ``"verifier"``; its ``outcome``
and ``infra_reason`` are the trial's combined verdict. README documents every field.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

SCHEMA_VERSION = 1

Outcome = Literal["passed", "failed", "timeout", "infra_error"]
OUTCOMES: tuple[str, ...] = ("passed", "failed", "timeout", "infra_error")

# Why a trial is an infrastructure error rather than the workload's own failure.
#   oom_kill       killed by the OOM killer of its own memory.max
#   host_oom_kill  killed by the host's global OOM killer or an ancestor's limit
#   spawn_error    the command was not found or not executable
#   harness_error  the harness itself failed (cgroup refused a write, ...)
#   verifier_error the verifier could not run or gave no verdict
#   limits_tampered a limit file read at the end differs from the start (the workload
#                  rewrote it): the trial did not run under its profile
#   escaped        a process of the trial moved itself out of the trial's cgroup
#   task_tampered  the task's files (its verifier) changed since the sweep began: not judged
INFRA_REASONS: tuple[str, ...] = (
    "oom_kill", "host_oom_kill", "spawn_error", "harness_error", "verifier_error",
    "limits_tampered", "escaped", "task_tampered",
)
# Reasons that say the trial did not run under the limits on record, whatever it scored.
TAMPER_REASONS: tuple[str, ...] = ("limits_tampered", "escaped")

# The three categories the statistics work with. A timeout is the workload's own doing.
Category = Literal["passed", "task_failure", "infra_error"]
CATEGORY_OF_OUTCOME: dict[str, Category] = {
    "passed": "passed",
    "failed": "task_failure",
    "timeout": "task_failure",
    "infra_error": "infra_error",
}

MEMORY_EVENT_KEYS: tuple[str, ...] = ("low", "high", "max", "oom", "oom_kill", "oom_group_kill")

# Fields a sweep adds to each trial record.
SWEEP_FIELDS: tuple[str, ...] = (
    "trial_id", "task", "profile", "memory_multiplier", "cpu_multiplier", "repeat",
    "host", "sweep_id", "agent_outcome", "verifier", "logs", "env_names",
)

# Exit statuses of `harness run`, as timeout(1) and `docker run` use them.
EXIT_TIMEOUT = 124
EXIT_HARNESS = 125
EXIT_NOT_EXECUTABLE = 126
EXIT_NOT_FOUND = 127
EXIT_SIGNAL_BASE = 128


@dataclass
class RunRecord:
    """What one workload did in one trial cgroup (see README, "Trial records")."""

    outcome: Outcome
    infra_reason: str | None
    exit_code: int  # the status `harness run` exits with (timeout(1) conventions)
    returncode: int | None  # the raw wait status as Python reports it, None if never started
    signal: int | None
    timed_out: bool
    wall_seconds: float
    command: list[str]
    started_at: str  # ISO 8601, UTC
    harness_version: str
    backend: str
    cpu_usage_usec: int | None = None
    cpu_user_usec: int | None = None
    cpu_system_usec: int | None = None
    cpu_nr_periods: int | None = None
    cpu_nr_throttled: int | None = None
    cpu_throttled_usec: int | None = None
    memory_peak_bytes: int | None = None
    memory_events: dict[str, int] = field(default_factory=dict)
    oom_kill_source: Literal["limit", "ancestor", "host"] | None = None
    first_oom_kill_seconds: float | None = None  # when the first OOM kill was seen
    pids_peak: int | None = None
    pids_max_events: int | None = None  # forks refused by pids.max
    leftover_processes_killed: int = 0  # processes still in the cgroup after the main one ended
    pressure: dict[str, dict[str, int]] | None = None  # PSI totals (µs); None if no PSI
    limits: dict[str, str] = field(default_factory=dict)  # read back from the files
    # limit file -> [at start, at end] where the workload changed it (then limits_tampered)
    limits_changed: dict[str, list[str | None]] = field(default_factory=dict)
    escaped_processes_killed: int = 0  # processes that had left the trial's cgroup (then escaped)
    cgroup: str | None = None
    error: str | None = None  # what went wrong, for spawn and harness errors

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA_VERSION, **asdict(self)}


def category(outcome: str) -> Category:
    """passed / task_failure / infra_error for an outcome string."""
    try:
        return CATEGORY_OF_OUTCOME[outcome]
    except KeyError:
        raise ValueError(f"unknown outcome {outcome!r}; expected one of {OUTCOMES}") from None
