"""The rules that turn what happened into an outcome and an exit status."""

from __future__ import annotations

from dataclasses import dataclass

from harness.exits import ExitStatus, killed_by
from harness.schema.record import InfraReason, OomKillSource, Outcome


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    infra_reason: InfraReason | None
    oom_kill_source: OomKillSource | None


def oom_source(events: dict[str, int], ancestor_oom_delta: int) -> OomKillSource | None:
    """Who OOM-killed a process of the trial, if anyone did.

    ``oom_kill`` counts kills by any OOM killer; ``oom`` only rises when this cgroup's own
    limit was hit. Without it the kill came from above: an ancestor cgroup's limit (its
    ``memory.events.local`` ``oom`` rose meanwhile) or else the host's global OOM killer.
    """
    if events.get("oom_kill", 0) <= 0:
        return None
    if events.get("oom", 0) > 0:
        return "limit"
    return "ancestor" if ancestor_oom_delta > 0 else "host"


def classify(passed: bool, timed_out: bool, events: dict[str, int], ancestor_oom_delta: int) -> Verdict:
    """An OOM-killed trial that did not pass is the infrastructure's failure, not the workload's;
    one that passed anyway stays passed and keeps its oom_kill count."""
    source = oom_source(events, ancestor_oom_delta)
    if source is not None and not passed:
        return Verdict("infra_error", "oom_kill" if source == "limit" else "host_oom_kill", source)
    if timed_out:
        return Verdict("timeout", None, source)
    return Verdict("passed" if passed else "failed", None, source)


def exit_status(returncode: int, timed_out: bool) -> tuple[int, int | None]:
    """(status for scripts, signal): the command's own status, 124 timed out, 128+N by signal N."""
    signal = -returncode if returncode < 0 else None
    if timed_out:
        return ExitStatus.TIMEOUT, signal
    if signal is not None:
        return killed_by(signal), signal
    return returncode, None


def combine(agent_oom_source: OomKillSource | None, agent_timed_out: bool, verifier_passed: bool) -> Verdict:
    """A sweep trial's verdict: the verifier says whether the work passed; an OOM kill
    in the agent phase that left the work failing makes the trial an infra error."""
    if agent_oom_source is not None and not verifier_passed:
        reason: InfraReason = "oom_kill" if agent_oom_source == "limit" else "host_oom_kill"
        return Verdict("infra_error", reason, agent_oom_source)
    if verifier_passed:
        return Verdict("passed", None, agent_oom_source)
    return Verdict("timeout" if agent_timed_out else "failed", None, None)
