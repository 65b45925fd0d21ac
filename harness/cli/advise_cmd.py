"""`harness advise DIR...`: per-task guarantee, kill threshold and CPUs from what the trials used."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from harness.cli.common import errors_exit, print_json, say
from harness.exits import ExitStatus

if TYPE_CHECKING:
    from harness.advice.advise import Rule


@click.command()
@click.argument("dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--quantile", type=click.FloatRange(0.5, 1.0), default=0.9, show_default=True,
              help="Quantile of the passing trials' peaks (and CPU use) the advice covers.")
@click.option("--headroom", type=click.FloatRange(0.0, 10.0), default=0.10, show_default=True,
              help="Fraction added to that quantile for the guarantee.")
@click.option("--band", default="auto", show_default=True,
              help="Kill threshold as a multiple of the guarantee; auto: the band the report calibrates "
                   "from these sweeps, else the article's 3x.")
@click.option("--json", "as_json", is_flag=True, help="Print the advice as JSON.")
@click.option("--write-overrides", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the advised specs to FILE for `harness sweep --spec-overrides FILE`.")
def advise(dirs: tuple[Path, ...], quantile: float, headroom: float, band: str, as_json: bool,
           write_overrides: Path | None) -> None:
    """Per task of the sweeps in DIRS: declared memory and CPUs, observed peaks (median, a high
    quantile, max; OOM-killed trials as lower bounds), CPU time and throttling, and an advised
    guarantee, kill threshold and CPUs by the printed rule, with flags where the declared spec is
    clearly wrong.

    Exit: 0 advised; 2 bad input.
    """
    from harness.advice.advise import advise as make_advice
    from harness.advice.read import read_trials
    from harness.advice.render import overrides_text, table

    with errors_exit(ExitStatus.BAD_INPUT):
        trials = read_trials(list(dirs))
        rule = _rule(list(dirs), quantile, headroom, band)
        advice = make_advice(trials.records, rule)
        if not advice:
            from harness.errors import ResultsError

            raise ResultsError(f"{', '.join(map(str, dirs))}: no sweep trial records (none names a task)",
                               "give directories `harness sweep` or `harness demo` wrote")
        if write_overrides is not None:
            command = "harness advise " + " ".join(shlex.quote(a) for a in sys.argv[2:])
            write_overrides.write_text(overrides_text(advice, rule, command))
            say(f"harness: spec overrides written to {write_overrides}; "
                f"next: harness sweep SUITE --spec-overrides {write_overrides} ...")
    if as_json:
        print_json({"rule": {"quantile": rule.quantile, "headroom": rule.headroom, "band": rule.band,
                             "band_source": rule.band_source, "text": rule.describe()},
                    "dirs": [str(d) for d in dirs], "tasks": [a.to_dict() for a in advice]})
    else:
        click.echo(table(advice, rule))


def _rule(dirs: list[Path], quantile: float, headroom: float, band: str) -> Rule:
    from harness.advice.advise import Rule
    from harness.errors import HarnessError, UsageError
    from harness.sweep.profiles import parse_multiple_token

    if band != "auto":
        value = parse_multiple_token(band if band.lower().endswith("x") else f"{band}x", "--band", "cpu")
        if value is None or value < 1:
            raise UsageError(f"--band {band}: must be a multiple of at least 1x", "give e.g. --band 3x")
        return Rule(quantile, headroom, value, "given with --band")
    try:
        from harness.report.build import report_for_dirs

        doc = report_for_dirs(dirs)
    except (HarnessError, ImportError, ValueError):
        return Rule(quantile, headroom)
    rec = doc.recommendation
    # Only a band along memory is a memory headroom (a timeout band says nothing about it).
    row = next((p for p in doc.profiles if p.name == rec.profile), None)
    mult = None if row is None or doc.trend.axis != "memory" else row.memory_multiplier
    if rec.verdict == "recommended" and mult is not None and mult >= 1:
        return Rule(quantile, headroom, float(mult), f"the band these sweeps calibrate: {rec.profile}")
    return Rule(quantile, headroom)
