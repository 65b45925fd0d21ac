"""`harness show DIR TRIAL`: one trial's record and its memory/CPU timeline; `harness show
FILE`: a timeline file alone (as `harness run --timeline FILE` writes it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from harness.cli.common import errors_exit, print_json, say
from harness.exits import ExitStatus


@click.command()
@click.argument("result_dir", metavar="DIR|FILE", type=click.Path(path_type=Path))
@click.argument("trial", required=False)
@click.option("--plot", "plot_path", type=click.Path(path_type=Path), default=None,
              help="Also draw the timeline to FILE.png|svg (needs harness[plot]).")
@click.option("--json", "as_json", is_flag=True, help="Print the record and the timeline as JSON.")
@click.option("--width", type=click.IntRange(20, 400), default=64, show_default=True,
              help="Columns of the text chart.")
def show(result_dir: Path, trial: str | None, plot_path: Path | None, as_json: bool, width: int) -> None:
    """Print TRIAL's record (an id as task/profile/repeat) from DIR and draw its timeline:
    memory over time, the kill threshold and the guarantee as lines, an OOM kill where it
    happened. memory.peak is the peak of record; samples can miss a short spike. Given a
    timeline FILE instead (`harness run --timeline FILE`), draw that.

    Exit: 0 shown; 2 bad input (no such trial, no timeline where one was asked for).
    """
    from harness.advice.read import find_trial, read_trials, timeline_path
    from harness.errors import ResultsError, UsageError
    from harness.runner import timeline as timelines
    from harness.show.text import record_lines, render, summary

    rec: dict[str, Any] | None = None
    tl: timelines.Timeline | None
    with errors_exit(ExitStatus.BAD_INPUT):
        if result_dir.is_file():
            if trial is not None:
                raise UsageError(f"{result_dir} is a file: a timeline takes no TRIAL",
                                 "give DIR TRIAL for a sweep's trial, or the timeline FILE alone")
            path, name, title = result_dir, result_dir.name, result_dir.name
            tl = timelines.read(path)
        else:
            if trial is None:
                raise UsageError("which trial? give DIR TRIAL (e.g. spike-install/1x/0)",
                                 "`harness report DIR` lists the tasks and profiles")
            rec, where = find_trial(read_trials([result_dir]), trial)
            name = str(rec["trial_id"])
            path = timeline_path(where, name)
            tl = timelines.read(path) if path.exists() else None
            title = f"{name}: {rec.get('outcome')}" + (
                f" ({rec['infra_reason']})" if rec.get("infra_reason") else "")
        if plot_path is not None:
            if tl is None:
                raise ResultsError(f"{name}: no timeline ({path} is missing)",
                                   "timelines are written by sweeps with sampling on (the default)")
            from harness.show.plot import plot_timeline

            plot_timeline(tl, plot_path, title)
            say(f"harness: timeline drawn to {plot_path}")
    if as_json:
        import json

        print_json({"record": rec, "timeline": None if tl is None else
                    {"path": str(path), **json.loads(path.read_text())}})
        return
    if rec is not None:
        lines = record_lines(rec)
        w = max(len(k) for k, _ in lines)
        click.echo("\n".join(f"{k:<{w}}  {v}" for k, v in lines))
        click.echo("")
    if tl is None:
        click.echo(f"timeline: none ({path} is missing; sampling was off or the trial predates it)")
        return
    click.echo(render(tl, width=width))
    click.echo("")
    s = summary(tl)
    w = max(len(k) for k, _ in s)
    click.echo("\n".join(f"{k:<{w}}  {v}" for k, v in s))
