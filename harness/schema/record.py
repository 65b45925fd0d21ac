"""The trial record: what the runner writes for `harness run`, and what a sweep writes as
one line of ``trials.jsonl`` (the agent phase's runner fields at top level, the sweep's
fields beside them, the verifier's result under ``verifier``; ``outcome`` and
``infra_reason`` are then the trial's combined verdict). README documents every field;
``tests/test_schema.py`` checks its tables against these classes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.schema.fields import kwargs, names
from harness.schema.version import SCHEMA_KEY, check_version

SCHEMA_VERSION = 1  # of a trial record (a `harness run --json` record or a trials.jsonl line)

Outcome = Literal["passed", "failed", "timeout", "infra_error"]
OUTCOMES: tuple[Outcome, ...] = ("passed", "failed", "timeout", "infra_error")

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
InfraReason = Literal["oom_kill", "host_oom_kill", "spawn_error", "harness_error", "verifier_error",
                      "limits_tampered", "escaped", "task_tampered"]
INFRA_REASONS: tuple[InfraReason, ...] = (
    "oom_kill", "host_oom_kill", "spawn_error", "harness_error", "verifier_error",
    "limits_tampered", "escaped", "task_tampered",
)
# Reasons that say the trial did not run under the limits on record, whatever it scored.
TAMPER_REASONS: tuple[InfraReason, ...] = ("limits_tampered", "escaped")
OomKillSource = Literal["limit", "ancestor", "host"]

# The three categories the statistics work with (codes 0, 1, 2). A timeout is the workload's
# own doing.
Category = Literal["passed", "task_failure", "infra_error"]
CATEGORIES: tuple[Category, ...] = ("passed", "task_failure", "infra_error")
CATEGORY_OF_OUTCOME: dict[str, Category] = {
    "passed": "passed",
    "failed": "task_failure",
    "timeout": "task_failure",
    "infra_error": "infra_error",
}
CATEGORY_CODE: dict[str, int] = {o: CATEGORIES.index(c) for o, c in CATEGORY_OF_OUTCOME.items()}
INFRA_CODE = CATEGORIES.index("infra_error")

MEMORY_EVENT_KEYS: tuple[str, ...] = ("low", "high", "max", "oom", "oom_kill", "oom_group_kill")


@dataclass(frozen=True)
class RunRecord:
    """What one workload did in one trial cgroup (README, "Result files")."""

    outcome: Outcome
    infra_reason: InfraReason | None
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
    oom_kill_source: OomKillSource | None = None
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

    def to_json(self) -> dict[str, Any]:
        return {SCHEMA_KEY: SCHEMA_VERSION, **dataclasses.asdict(self)}

    @classmethod
    def from_json(cls, doc: dict[str, Any], where: str) -> RunRecord:
        doc = check_version(doc, where, "trial record", SCHEMA_VERSION)
        return cls(**kwargs(cls, doc, where))


@dataclass(frozen=True)
class VerifierResult:
    """The verifier's run, under a sweep record's ``verifier``."""

    outcome: Outcome
    infra_reason: InfraReason | None
    exit_code: int | None  # None: it never ran (a container gone after the agent phase)
    signal: int | None
    timed_out: bool
    wall_seconds: float
    memory_peak_bytes: int | None
    error: str | None
    reward: float | None  # the number in $HARNESS_REWARD_FILE (container: /logs/verifier), if any
    reward_source: str | None = None  # container trials: reward.txt | reward.json | None (exit status)
    passed: bool | None = None  # the verifier's own verdict on the work (None: older records)

    @classmethod
    def of(cls, run: RunRecord, reward: float | None, passed: bool) -> VerifierResult:
        own = ("reward", "reward_source", "passed")
        return cls(**{k: getattr(run, k) for k in names(cls) if k not in own}, reward=reward, passed=passed)


@dataclass(frozen=True, kw_only=True)
class TrialRecord(RunRecord):
    """One sweep trial: the agent phase's runner fields, the sweep's, the verifier's."""

    trial_id: str  # task/profile/repeat
    task: str
    profile: str
    memory_multiplier: float | None  # None: uncapped
    cpu_multiplier: float | None
    repeat: int
    seed: int  # the trial's own ($HARNESS_TRIAL_SEED)
    host: str
    sweep_id: str
    declared_memory_bytes: int
    declared_cpus: float
    agent_outcome: Outcome | None  # the agent phase's own outcome; None if it never ran
    verifier: VerifierResult | None
    # log -> {"bytes_written", "bytes_kept", "truncated", ...} (runner/logcap.py); {} in older records
    logs: dict[str, dict[str, int | str]] = field(default_factory=dict)
    env_names: list[str] = field(default_factory=list)  # names (never values) the agent got
    # Where it ran (harness.environments). The rest are None for a host trial.
    environment: str = "host"  # host | podman
    container: str | None = None  # the container's name (labels name the sweep and trial)
    image: str | None = None  # the reference it was made ready under
    image_id: str | None = None  # the image the container ran (by id)
    workdir: str | None = None  # the image's WORKDIR, where agent and verifier ran
    agent_on: str | None = None  # container | host
    verifier_limits: str | None = None  # none | same
    network: str | None = None  # the container's --network
    container_cgroup: str | None = None  # the runtime's cgroup, a child of `cgroup`
    container_limits: dict[str, str] | None = None  # read back there: none but a written guarantee
    container_protection: str | None = None  # recursiveprot | written
    runtime_rewrote_limits: list[str] | None = None  # limit files of `cgroup` the runtime changed
    cleanup_error: str | None = None  # what failed while removing container and cgroups
    timeout_multiplier: float | None = 1.0  # of the task's agent timeout; None: no timeout
    agent_timeout_sec: float | None = None  # the agent's timeout in force; None: none (or not recorded)

    def to_json(self) -> dict[str, Any]:
        return super().to_json()  # asdict recurses into the verifier

    @classmethod
    def from_json(cls, doc: dict[str, Any], where: str) -> TrialRecord:
        doc = check_version(doc, where, "trial record", SCHEMA_VERSION)
        args = kwargs(cls, doc, where)
        if args["verifier"] is not None:
            args["verifier"] = VerifierResult(**kwargs(VerifierResult, args["verifier"],
                                                       f"{where}: verifier"))
        return cls(**args)


RUN_FIELDS: tuple[str, ...] = names(RunRecord)
# Fields a sweep adds to the runner's record.
SWEEP_FIELDS: tuple[str, ...] = tuple(k for k in names(TrialRecord) if k not in RUN_FIELDS)
VERIFIER_FIELDS: tuple[str, ...] = names(VerifierResult)

# What the fast report loader reads of each line, without building a TrialRecord.
TRIAL_ID, TASK, PROFILE, OUTCOME, HOST, STARTED_AT, MEMORY_MULTIPLIER, CPU_MULTIPLIER, INFRA_REASON = (
    "trial_id", "task", "profile", "outcome", "host", "started_at", "memory_multiplier",
    "cpu_multiplier", "infra_reason")
VERIFIER = "verifier"  # its ``passed``: a timeout whose work passed (a report warning)
TIMEOUT_MULTIPLIER = "timeout_multiplier"  # absent from records older than timeout profiles: 1x
REPORT_KEYS = (TRIAL_ID, TASK, PROFILE, OUTCOME, HOST, STARTED_AT, MEMORY_MULTIPLIER, CPU_MULTIPLIER,
               INFRA_REASON, VERIFIER, TIMEOUT_MULTIPLIER)
REQUIRED_REPORT_KEYS = (TRIAL_ID, TASK, PROFILE, OUTCOME)
assert set(REPORT_KEYS) <= set(names(TrialRecord)), "the report reads fields a record does not have"
RECORD_VERSIONS: tuple[int, ...] = (SCHEMA_VERSION,)  # what a reader of trials.jsonl accepts


def category(outcome: str) -> Category:
    """passed / task_failure / infra_error for an outcome string."""
    try:
        return CATEGORY_OF_OUTCOME[outcome]
    except KeyError:
        raise ValueError(f"unknown outcome {outcome!r}; expected one of {OUTCOMES}") from None

