"""`harness demo`: the article's experiment in miniature, on the built-in demo suite."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from harness.cli.common import errors_exit, fail, print_json, say
from harness.cli.options import backend_options
from harness.errors import HarnessError
from harness.exits import ExitStatus, status_for

DEMO_SEED = 20261128  # fixed, so two demo runs on one machine are a reproducibility check
DEMO_REPEATS = 3


@click.command()
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Result directory [default: results/demo-<time>].")
@click.option("--repeats", type=int, default=DEMO_REPEATS, show_default=True)
@click.option("--seed", type=int, default=DEMO_SEED, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown"]), default="text", show_default=True)
@backend_options
def demo(out_dir: Path | None, repeats: int, seed: int, as_json: bool, fmt: str, backend: str,
         cgroup_root: Path | None) -> None:
    """Sweep the built-in demo suite over the six default profiles and print the report.

    On a host without usable cgroup v2 the trials run in user-mode Linux guests, one per
    core, each running a shard of the sweep.
    """
    from harness.backends.backend import Native, choose
    from harness.demo_suite import demo_suite_path
    from harness.schema.settings import SweepSettings
    from harness.sweep.profiles import default_profiles

    with errors_exit(ExitStatus.HARNESS):
        chosen = choose(backend, cgroup_root)
    out_dir = out_dir or Path("results") / f"demo-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"
    suite = demo_suite_path()
    cores = os.cpu_count() or 1
    if isinstance(chosen, Native):
        settings = SweepSettings(suite=suite, profiles=default_profiles(), repeats=repeats,
                                 seed=seed, concurrency=min(2, cores))
        say(f"harness demo: sweeping {suite.name} natively into {out_dir}")
        try:
            chosen.sweep(settings, out_dir)
        except HarnessError as e:
            fail(e, status_for(e))
        dirs = [out_dir]
    else:
        dirs = _run_in_guests(out_dir, suite, repeats, seed, shards=max(1, min(2, cores)))
    with errors_exit(ExitStatus.BAD_INPUT):
        from harness.report.build import report_for_dirs

        doc = report_for_dirs(dirs)
    if as_json:
        print_json(doc.to_json())
        return
    from harness.report.render import render_markdown, render_text

    click.echo(render_markdown(doc) if fmt == "markdown" else render_text(doc))
    say(f"harness demo: results in {out_dir}; again with: harness report {out_dir}")


def _run_in_guests(out_dir: Path, suite: Path, repeats: int, seed: int, shards: int) -> list[Path]:
    from harness.backends.guest_commands import harness_command, sweep_argv
    from harness.backends.guest_memory import guest_mem
    from harness.backends.protocol import guest_environment
    from harness.backends.uml_relay import run_many
    from harness.schema.settings import SweepSettings
    from harness.sweep.profiles import default_profiles

    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    dirs = [out_dir / f"shard-{i}" for i in range(1, shards + 1)]
    commands = [harness_command(sweep_argv(
        SweepSettings(suite=suite, profiles=default_profiles(), repeats=repeats, seed=seed,
                      shard=f"{i}/{shards}"), d)) for i, d in enumerate(dirs, 1)]
    say(f"harness demo: no usable cgroup v2 here; {shards} user-mode Linux guest(s), one shard each, "
        f"into {out_dir}")
    with errors_exit(ExitStatus.HARNESS):
        # The shards' stdout (their result directory) is talk here: ours is the report.
        codes = run_many(commands, cwd=os.getcwd(), env=guest_environment(), mem=guest_mem(shards),
                         labels=[f"shard {i}" for i in range(1, shards + 1)], stdout=sys.stderr)
    bad = [(d, c) for d, c in zip(dirs, codes, strict=True) if c != 0]
    if bad:
        hints = "; ".join(f"harness sweep --resume {d} --backend uml" for d, _ in bad)
        interrupted = all(c == ExitStatus.INTERRUPTED for _, c in bad)
        status = ExitStatus.INTERRUPTED if interrupted else ExitStatus.HARNESS
        fail(f"{len(bad)} shard(s) did not finish (exit {bad[0][1]}); finish with: {hints}", status)
    return dirs
