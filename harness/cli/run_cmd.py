"""`harness run`: one workload in one trial cgroup."""

from __future__ import annotations

import json
import math
import signal
import sys
from pathlib import Path

import click

from harness.cli.common import errors_exit, say
from harness.cli.options import backend_options
from harness.errors import UsageError
from harness.exits import ExitStatus, killed_by
from harness.limits import DEFAULT_PIDS_MAX, PROTECTIONS, LimitSettings, as_protection
from harness.schema.record import RunRecord
from harness.units import (
    Amount,
    is_unlimited,
    parse_cpu_amount,
    parse_cpus,
    parse_memory_amount,
    parse_seconds,
    parse_size,
)


def limits_from_flags(memory: str | None, memory_guarantee: str, memory_limit: str,
                      memory_high: str | None, protection: str, swap: str, oom_group: bool,
                      cpus: str | None, cpu_limit: str, pids_max: str) -> LimitSettings:
    """Flags → absolute settings. Multiples (``3x``) are of --memory / --cpus."""
    declared = parse_size(memory, "--memory") if memory is not None else None
    declared_cpus = parse_cpus(cpus, "--cpus") if cpus is not None else None
    # Without a declared amount the "1x" defaults mean: no guarantee, no limit.
    g = (parse_memory_amount(memory_guarantee, "--memory-guarantee")
         if declared or memory_guarantee != "1x" else None)
    m = parse_memory_amount(memory_limit, "--memory-limit") if declared or memory_limit != "1x" else None
    c = parse_cpu_amount(cpu_limit, "--cpu-limit") if declared_cpus or cpu_limit != "1x" else None
    h = parse_memory_amount(memory_high, "--memory-high") if memory_high is not None else None

    def mem(amount: Amount | None) -> int | None:
        value = None if amount is None else amount.resolve(declared)
        if value is not None and not math.isfinite(value):
            raise UsageError(f"a memory limit of {value} bytes is beyond any size", "give a smaller limit")
        return None if value is None else int(value)

    return LimitSettings(
        memory_guarantee_bytes=mem(g), protection=as_protection(protection), memory_max_bytes=mem(m),
        memory_high_bytes=mem(h),
        swap_max_bytes=None if is_unlimited(swap) else (0 if swap == "0" else parse_size(swap, "--swap")),
        oom_group=oom_group, cpu_max_cpus=None if c is None else c.resolve(declared_cpus),
        declared_cpus=declared_cpus, declared_memory_bytes=declared,
        pids_max=None if is_unlimited(pids_max) else _positive_int(pids_max, "--pids-max"),
    )


def _positive_int(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{what}: {text!r} is not a whole number", "give e.g. 4096, or max") from None
    return value  # its range is the kernel's, checked by LimitSettings


@click.command(context_settings={"ignore_unknown_options": False})
@click.option("--memory", metavar="SIZE", help="Declared memory of the workload (its 1x): 512M, 2G, bytes.")
@click.option("--memory-guarantee", default="1x", show_default=True, metavar="X",
              help="memory.low (or .min): a size, a multiple of --memory (1.5x), or max.")
@click.option("--memory-limit", default="1x", show_default=True, metavar="X",
              help="memory.max, the kill threshold: a size, a multiple (3x), or max.")
@click.option("--memory-high", default=None, metavar="X", help="memory.high throttle point (optional).")
@click.option("--protection", type=click.Choice(PROTECTIONS), default="low", show_default=True,
              help="Write the guarantee to memory.low (best effort) or memory.min (hard).")
@click.option("--swap", default="0", show_default=True, metavar="SIZE",
              help="memory.swap.max; 0 so an over-limit workload dies rather than swaps.")
@click.option("--oom-group/--no-oom-group", default=True, show_default=True,
              help="memory.oom.group: an OOM kill takes the whole trial, as Kubernetes does.")
@click.option("--cpus", default=None, metavar="N",
              help="Declared CPUs (sets cpu.weight; the 1x of --cpu-limit).")
@click.option("--cpu-limit", default="1x", show_default=True, metavar="X",
              help="cpu.max: a CPU count, a multiple of --cpus, or max.")
@click.option("--pids-max", default=str(DEFAULT_PIDS_MAX), show_default=True, metavar="N",
              help="pids.max (stops fork bombs), or max.")
@click.option("--timeout", type=float, default=None, metavar="SECONDS",
              help="SIGTERM after this long, then SIGKILL of the whole trial after --grace.")
@click.option("--grace", type=float, default=5.0, show_default=True, metavar="SECONDS")
@click.option("--json", "as_json", is_flag=True,
              help="Print the trial record as JSON on stdout (the command's stdout goes to stderr).")
@click.option("--record", type=click.Path(path_type=Path), default=None,
              help="Append the record to this JSON Lines file.")
@click.option("--timeline", type=click.Path(path_type=Path, dir_okay=False), default=None, metavar="FILE",
              help="Sample memory and CPU while the command runs and write the timeline to FILE "
                   "(`harness show FILE` draws it).")
@backend_options
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(command: tuple[str, ...], backend: str, cgroup_root: Path | None, as_json: bool,
        record: Path | None, timeline: Path | None, timeout: float | None, grace: float,
        **flags: object) -> None:
    """Run COMMAND in its own trial cgroup and report what it did.

    \b
    Exit status: the command's own when it ran to the end; 124 timed out;
    125 the harness failed; 126 not executable; 127 not found; 128+N killed by
    signal N (137 for an OOM kill).
    """
    from harness.backends.backend import Native, Uml, choose
    from harness.backends.guest_commands import run_argv

    with errors_exit(ExitStatus.HARNESS):
        limits = limits_from_flags(**flags)  # type: ignore[arg-type]
        # issue 11 (item 11): 0, negative, nan and inf are refused, not run as "timed out"
        # or "no timeout"; the kernel-range checks of the limits are in LimitSettings.
        timeout = parse_seconds(timeout, "--timeout")
        if not (math.isfinite(grace) and grace >= 0):
            raise UsageError(f"--grace {grace!r}: must be 0 or more finite seconds", "give e.g. 5")
        if timeline is not None:
            timeline = timeline.absolute()  # a guest sees the host's files at the same paths
            if not timeline.parent.is_dir():
                raise UsageError(f"--timeline {timeline}: no directory {timeline.parent}",
                                 "create it, or give a file in an existing directory")
        chosen = choose(backend, cgroup_root)
        if isinstance(chosen, Uml):  # the guest prints the record and exits with the status
            sys.exit(chosen.call(run_argv(command, limits, timeout=timeout, grace=grace,
                                          cgroup_root=cgroup_root, as_json=as_json, record=record,
                                          timeline=timeline)))
        assert isinstance(chosen, Native)
        received: list[int] = []

        def on_term(signum: int, frame: object) -> None:
            received.append(signum)
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, on_term)
        try:
            rec = chosen.run(command, limits, timeout=timeout, grace=grace,
                             stdout=sys.stderr.fileno() if as_json else None, on_event=_on_event,
                             timeline=timeline)
        except KeyboardInterrupt:
            # The trial cgroup was killed and removed on the way out; no record is written.
            status = killed_by(received[0] if received else signal.SIGINT)
            say(f"harness: interrupted; the trial was killed (exit {status})")
            sys.exit(status)
    if record is not None:
        from harness.results.store import TrialLog

        with errors_exit(ExitStatus.HARNESS), TrialLog(record) as log:
            log.append(rec.to_json())
    if as_json:
        click.echo(json.dumps(rec.to_json(), indent=2))
    else:
        say(_summary(rec))
    sys.exit(rec.exit_code)


def _on_event(kind: str, events: dict[str, int]) -> None:
    say(f"harness: {kind} in the trial cgroup (oom_kill={events.get('oom_kill', 0)})")


def _summary(rec: RunRecord) -> str:
    peak = rec.memory_peak_bytes
    parts = [f"outcome={rec.outcome}"]
    if rec.infra_reason:
        parts.append(f"infra_reason={rec.infra_reason}")
    parts += [f"exit={rec.exit_code}", f"wall={rec.wall_seconds:.2f}s"]
    if peak is not None:
        parts.append(f"peak={peak / 2**20:.1f}MiB")
    if rec.cpu_nr_throttled:
        parts.append(f"throttled={rec.cpu_nr_throttled}/{rec.cpu_nr_periods}")
    if rec.error:
        parts.append(f"error={rec.error!r}")
    return "harness: " + " ".join(parts)
