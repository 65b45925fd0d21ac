"""`harness sweep`: a task suite under a set of resource profiles, crash-safe and resumable."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from harness.cli.common import errors_exit, fail, print_json, say
from harness.cli.environment_options import environment_options, pick
from harness.cli.options import backend_options
from harness.errors import HarnessError, UsageError
from harness.exits import ExitStatus, status_for
from harness.report.warm import index_for_report

if TYPE_CHECKING:
    from harness.schema.settings import SweepSettings


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.command()
@click.argument("suite", required=False, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), help="Result directory (new or empty).")
@click.option("--resume", "resume_dir", type=click.Path(path_type=Path),
              help="Finish the sweep in this directory: exactly its missing trials.")
@click.option("--profiles", default=None,
              help="Memory limit multiples, e.g. 1x,3x,uncapped [default: 1x,1.5x,2x,3x,5x,uncapped].")
@click.option("--cpu-profiles", default=None,
              help="CPU limit multiples, crossed with --profiles [default: CPU follows memory].")
@click.option("--timeout-profiles", default=None,
              help="Agent-timeout multiples (e.g. 0.5x,2x,none), crossed with the other profiles "
                   "[default: the task's own timeout].")
@click.option("--spec-overrides", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="TOML of per-task memory/cpus replacing the declared ones "
                   "(`harness advise --write-overrides` writes it).")
@click.option("--sample-interval", type=float, default=None,
              help="Seconds between timeline samples at a trial's start (coarser later); "
                   "0: no timelines [default: 0.1].")
@click.option("--sweep-file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="TOML file of [[profile]] tables for richer sweeps (e.g. RAM only, memory.min).")
@click.option("--repeats", type=int, default=None, help="Trials per task and profile [default: 3].")
@click.option("--seed", type=int, default=None, help="Order and per-trial seeds [default: random, recorded].")
@click.option("--concurrency", type=int, default=None,
              help="Trials at once, bounded by the machine's memory and CPUs [default: 1].")
@click.option("--agent", default=None,
              help="Agent command template with {task_dir} {instruction} {workdir} {task} {python} "
                   "[default: the task's solution/solve.sh, the oracle].")
@click.option("--tasks", default=None, help="Comma-separated subset of task names.")
@click.option("--shard", default=None, metavar="I/N", help="Run the I-th of N deterministic shares.")
@click.option("--keep-workdirs", is_flag=True, help="Keep each trial's working directory.")
@click.option("--pass-env", "pass_env", multiple=True, metavar="NAME[,NAME]",
              help="Also give the agent and verifier these variables of our environment (e.g. an API "
                   "key); they get only PATH HOME USER LOGNAME SHELL LANG LANGUAGE LC_ALL LC_CTYPE TZ "
                   "TERM TMPDIR and HARNESS_* otherwise. Names are recorded, values never.")
@click.option("--log-cap", "log_cap", default=None, metavar="SIZE",
              help="Cap on each trial log; its head and tail are kept and the cut is recorded [default: 8M].")
@click.option("--agent-user", "agent_user", default=None, metavar="USER",
              help="Run the agent phase as this unprivileged user, so it cannot change its limits.")
@click.option("--protect-limits", is_flag=True,
              help="Run the agent phase (as root) with the cgroup files read-only and without the "
                   "capabilities that would undo that, as a container does.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout at the end.")
@click.option("--settings-json", hidden=True, default=None,
              help="The sweep's settings as the manifest stores them (how a UML guest gets them).")
@environment_options
@backend_options
def sweep(suite: Path | None, out_dir: Path | None, resume_dir: Path | None, profiles: str | None,
          cpu_profiles: str | None, timeout_profiles: str | None, spec_overrides: Path | None,
          sample_interval: float | None, sweep_file: Path | None, repeats: int | None, seed: int | None,
          concurrency: int | None, agent: str | None, tasks: str | None, shard: str | None,
          keep_workdirs: bool, pass_env: tuple[str, ...], log_cap: str | None, agent_user: str | None,
          protect_limits: bool, as_json: bool, settings_json: str | None, backend: str,
          cgroup_root: Path | None, **environment: Any) -> None:
    """Run every task of SUITE under every profile, --repeats times, in a shuffled order.

    \b
    Writes DIR/manifest.json (the set-up) and DIR/trials.jsonl (a line per finished
    trial, fsynced). Prints DIR on stdout when done (--json: a summary).
    Exit: 0 done; 2 bad input; 125 the harness failed; 130 interrupted (resume it).
    """
    from harness.sweep import execute, outdir
    from harness.sweep.prepare import make_plan

    with errors_exit(ExitStatus.BAD_INPUT):
        settings = None
        if settings_json is not None:
            settings = _settings_from_json(settings_json, suite, resume_dir, out_dir)
        elif resume_dir is None:
            settings = _settings(suite, out_dir, profiles, cpu_profiles, timeout_profiles, sweep_file,
                                 repeats, seed, concurrency, agent, tasks, shard, keep_workdirs,
                                 pick(environment), pass_env, log_cap, agent_user, protect_limits)
            settings = _extras(settings, spec_overrides, sample_interval)
            # issue 11: the whole plan (limits against the kernel's ranges included) and --out
            # are checked here, before a guest boots and before anything is written.
            assert out_dir is not None
            make_plan(settings)
            outdir.check_apart(outdir.check_new(out_dir), settings.suite)
        elif (suite is not None or out_dir is not None or pass_env or log_cap or agent_user
              or protect_limits):
            raise UsageError("--resume takes the result directory alone",
                             "drop SUITE, --out and the sweep's options: the manifest holds its settings")
        elif timeout_profiles or spec_overrides or sample_interval is not None:
            raise UsageError("--resume takes no profiles, overrides or sampling options",
                             "drop them: the manifest holds the sweep's settings")
        else:
            from harness.backends.uml_parts import existing_parts

            # A sweep split over guests is checked part by part by the resume of each part.
            if not existing_parts(resume_dir):
                execute.check_resumable(resume_dir)
    run_sweep(backend, cgroup_root, settings, out_dir, resume_dir, as_json)


def run_sweep(backend: str, cgroup_root: Path | None, settings: SweepSettings | None,
              out_dir: Path | None, resume_dir: Path | None, as_json: bool) -> None:
    """Start (``settings`` into ``out_dir``) or resume (``resume_dir``) a sweep on ``backend``,
    print the result and exit as `harness sweep` does (`harness shard run` too)."""
    from harness.backends.backend import Uml, choose

    with errors_exit(ExitStatus.HARNESS):
        chosen = choose(backend, cgroup_root)
    target = resume_dir if resume_dir is not None else out_dir
    if isinstance(chosen, Uml):  # the guest (same cwd) prints the result and says what happened
        from harness.backends import uml_sweep

        if resume_dir is not None:
            code = uml_sweep.resume(resume_dir, cgroup_root=chosen.cgroup_root, mem=chosen.mem,
                                    as_json=as_json, disks=chosen.disks)
        else:
            assert settings is not None and out_dir is not None
            code = uml_sweep.start(settings, out_dir, cgroup_root=chosen.cgroup_root, mem=chosen.mem,
                                   as_json=as_json, disks=chosen.disks)
        if code == 0 and target is not None:
            # here, not in the guest: the copy is stamped with the file's inode
            index_for_report(target, note=say)
        sys.exit(code)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        if resume_dir is not None:
            result = chosen.resume(resume_dir)
        else:
            assert settings is not None and out_dir is not None
            result = chosen.sweep(settings, out_dir)
    except HarnessError as e:
        fail(e, status_for(e))
    except OSError as e:
        # issue 11: a full disk (or a result directory taken away) mid-sweep is the harness's
        # failure: every whole line is kept; say so and how to go on, never a traceback.
        fail(HarnessError(f"cannot write the sweep's files: {e.strerror} ({e.filename or target})",
                          f"free space or fix {target}; finished trials are kept; "
                          f"resume with: harness sweep --resume {target}"), ExitStatus.HARNESS)
    index_for_report(result.out_dir, note=say)
    if as_json:
        print_json({"out": str(result.out_dir), "planned": result.planned, "done": result.done,
                    "counts": result.counts, "complete": result.complete})
    else:
        click.echo(str(result.out_dir))
    say(f"harness: sweep complete; report: harness report {result.out_dir}")


def _settings_from_json(text: str, suite: Path | None, resume_dir: Path | None,
                        out_dir: Path | None) -> SweepSettings:
    import json

    from harness.schema.settings import SweepSettings

    if suite is not None or resume_dir is not None or out_dir is None:
        raise UsageError("--settings-json takes --out alone", "drop SUITE and --resume")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"--settings-json: not JSON ({e.msg})", "give the settings as JSON") from None
    try:
        return SweepSettings.from_json(doc, "--settings-json")
    except HarnessError as e:
        raise UsageError(e.message, e.fix) from None


def _settings(suite: Path | None, out_dir: Path | None, profiles: str | None, cpu_profiles: str | None,
              timeout_profiles: str | None, sweep_file: Path | None, repeats: int | None,
              seed: int | None, concurrency: int | None, agent: str | None, tasks: str | None,
              shard: str | None, keep_workdirs: bool, environment: dict[str, Any],
              pass_env: tuple[str, ...] = (), log_cap: str | None = None, agent_user: str | None = None,
              protect_limits: bool = False) -> SweepSettings:
    from harness.schema.settings import SweepSettings
    from harness.sweep.agent import ORACLE
    from harness.sweep.agent_env import parse_pass_env
    from harness.sweep.plan import parse_shard
    from harness.sweep.profiles import load_sweep_file, parse_profiles

    if suite is None or out_dir is None:
        raise UsageError("a sweep needs SUITE and --out DIR",
                         "e.g. harness sweep my-suite --out results/run1")
    file = load_sweep_file(sweep_file) if sweep_file is not None else None
    if shard is not None:
        parse_shard(shard)
        if seed is None and (file is None or file.seed is None):
            raise UsageError("--shard needs --seed: every shard must split the same shuffled plan",
                             "give all shards the same --seed (e.g. the job id)")
    if file is not None and (profiles or cpu_profiles or timeout_profiles):
        raise UsageError("--sweep-file and --profiles/--cpu-profiles/--timeout-profiles both name profiles",
                         "give the profiles in one place (a [[profile]] table takes timeout = \"2x\")")
    chosen = file.profiles if file is not None else parse_profiles(profiles, cpu_profiles, timeout_profiles)
    kwargs: dict[str, Any] = {}
    if seed is None and file is not None and file.seed is not None:
        seed = file.seed
    if seed is not None:
        kwargs["seed"] = seed
    if log_cap is not None:
        kwargs["log_cap_bytes"] = _log_cap(log_cap)
    if agent_user is not None:
        from harness.runner.spawn import user_ids

        try:
            user_ids(agent_user)
        except HarnessError as e:
            raise UsageError(e.message, e.fix) from None
        kwargs["agent_user"] = agent_user
    if protect_limits:
        if agent_user is not None:
            raise UsageError("--protect-limits and --agent-user both confine the agent",
                             "give one: --agent-user already keeps it from the cgroup files")
        from harness.runner.confine import tools

        tools()
        kwargs["protect_limits"] = True
    # issue 11 (item 3): a value given on purpose means what it says, or is refused;
    # never `x or default` (0 repeats silently ran 3, '' as agent ran the oracle).
    if repeats is None:
        repeats = file.repeats if file and file.repeats is not None else 3
    if concurrency is None:
        concurrency = file.concurrency if file and file.concurrency is not None else 1
    if agent is not None and not agent.strip():
        raise UsageError("--agent is empty",
                         f"give a command, or leave --agent out for the oracle ({ORACLE})")
    task_list = None
    if tasks is not None:
        task_list = tuple(t.strip() for t in tasks.split(",") if t.strip())
        if not task_list:
            raise UsageError(f"--tasks {tasks!r} names no task",
                             "give task names, or leave --tasks out for all")
    return SweepSettings(
        suite=suite.resolve(), profiles=tuple(chosen), repeats=repeats, concurrency=concurrency,
        agent=ORACLE if agent is None else agent, tasks=task_list,
        shard=shard, keep_workdirs=keep_workdirs, pass_env=tuple(parse_pass_env(pass_env)),
        **environment, **kwargs,
    )


def _log_cap(text: str) -> int:
    from harness.runner.logcap import MIN_LOG_CAP_BYTES
    from harness.units import parse_size

    value = parse_size(text, "--log-cap")
    if value < MIN_LOG_CAP_BYTES:
        raise UsageError(f"--log-cap {text}: below the least cap, {MIN_LOG_CAP_BYTES} bytes",
                         "give e.g. 1M or 8M")
    return value


def _extras(settings: SweepSettings, spec_overrides: Path | None,
            sample_interval: float | None) -> SweepSettings:
    """Spec overrides and the timeline interval on top of the settings."""
    from dataclasses import replace

    from harness.runner.timeline import policy_for
    from harness.sweep import overrides

    if sample_interval is not None:
        if sample_interval < 0:
            raise UsageError(f"--sample-interval {sample_interval:g}: must be 0 (off) or positive",
                             "give e.g. 0.1")
        policy_for(sample_interval)
        settings = replace(settings, sample_interval=sample_interval)
    if spec_overrides is not None:
        settings = replace(settings, spec_overrides=overrides.load(spec_overrides))
    return settings

