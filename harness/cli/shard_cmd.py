"""`harness shard`: a sweep split over machines or scheduler jobs, from one fixed plan."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.common import errors_exit, print_json, say
from harness.cli.options import backend_options
from harness.exits import ExitStatus


@click.group()
def shard() -> None:
    """Run a sweep as N shards on several machines (or a Slurm array) from one plan.

    \b
    harness shard prepare SUITE PREFIX --shards N [--seed S] [sweep options]
    harness shard run PREFIX I          (on any machine that sees PREFIX and SUITE)
    harness shard status PREFIX
    harness report PREFIX/shard-*
    """


@shard.command(context_settings={"ignore_unknown_options": True})
@click.argument("suite", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.argument("prefix", type=click.Path(path_type=Path))
@click.option("--shards", type=int, required=True, help="How many shards.")
@click.option("--seed", type=int, default=None, help="The plan's seed [default: random, recorded].")
@click.argument("options", nargs=-1, type=click.UNPROCESSED)
def prepare(suite: Path, prefix: Path, shards: int, seed: int | None, options: tuple[str, ...]) -> None:
    """Fix the plan in PREFIX/plan.json before any shard runs.

    OPTIONS are `harness sweep` options (--profiles, --repeats, --tasks, ...), checked
    here once. SUITE and PREFIX must be the same paths on every machine.
    """
    from harness.sweep import shard_plan

    with errors_exit(ExitStatus.BAD_INPUT):
        plan = shard_plan.prepare(suite, prefix, shards, seed, list(options))
    click.echo(str(prefix / shard_plan.PLAN_FILE))
    say(f"harness: plan fixed: {plan.shards} shard(s) of {plan.suite}, seed {plan.seed}, "
        f"harness {plan.harness_version} ({plan.harness_path}); run: harness shard run {prefix} I")


@shard.command()
@click.argument("prefix", type=click.Path(path_type=Path))
@click.argument("i", type=int)
@backend_options
def run(prefix: Path, i: int, backend: str, cgroup_root: Path | None) -> None:
    """Run shard I of the plan in PREFIX into PREFIX/shard-I, or resume it.

    A finished shard is left as it is (exit 0), so resubmitting every shard is safe.
    Exit as `harness sweep`: 0 done; 2 bad input; 125 the harness failed; 130 interrupted.
    """
    from harness.cli.sweep_cmd import run_sweep
    from harness.sweep import shard_plan

    with errors_exit(ExitStatus.BAD_INPUT):
        plan = shard_plan.load(prefix)
        shard_plan.check_shard(plan, i)
        out = plan.shard_dir(prefix.resolve(), i)
        state = shard_plan.shard_state(out)
        settings = shard_plan.shard_settings(plan, i) if state == "missing" else None
    where = f"shard {i}/{plan.shards} of {prefix} (seed {plan.seed})"
    if state == "finished":
        say(f"harness: {where} finished; nothing to do: {out}")
        click.echo(str(out))
        return
    say(f"harness: {where}: {'resuming' if settings is None else 'starting'} {out}")
    # In this process, from the plan's typed settings: the shard runs exactly this harness.
    if settings is None:
        run_sweep(backend, cgroup_root, None, None, out, as_json=False)
    else:
        run_sweep(backend, cgroup_root, settings, out, None, as_json=False)


@shard.command()
@click.argument("prefix", type=click.Path(path_type=Path))
@click.option("--pending", is_flag=True, help="Print only the unfinished shards, comma-separated.")
@click.option("--json", "as_json", is_flag=True)
def status(prefix: Path, pending: bool, as_json: bool) -> None:
    """Each shard of the plan in PREFIX: finished, started (resumable) or missing."""
    from harness.sweep import shard_plan

    with errors_exit(ExitStatus.BAD_INPUT):
        plan = shard_plan.load(prefix)
        states = shard_plan.status(plan, prefix)
    if pending:
        click.echo(",".join(str(i) for i, s in states.items() if s != "finished"))
    elif as_json:
        print_json({"plan": plan.to_dict(), "shards": {str(i): s for i, s in states.items()}})
    else:
        for i, s in states.items():
            click.echo(f"{i}\t{s}\t{plan.shard_dir(prefix, i)}")
