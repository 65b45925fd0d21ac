"""`harness report`, `harness compare`, `harness power`: the statistics of a sweep.

numpy, scipy and tabulate are imported inside the commands, so `harness --help` stays fast.
Margins and effects are given in percentage points (2 = 0.02 internally).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.cli.common import errors_exit, print_json, say
from harness.errors import UsageError
from harness.exits import ExitStatus

DIRS = click.Path(path_type=Path, file_okay=False)


def _points(value: float, flag: str) -> float:
    if not 0 < value < 100:
        raise UsageError(f"{flag} {value:g}: must be between 0 and 100 (percentage points)",
                         f"give e.g. {flag} 2 for ±2 points")
    return value / 100


def _probability(value: float, flag: str, low: float = 0.0, high: float = 1.0) -> float:
    if not low < value < high:
        raise UsageError(f"{flag} {value:g}: must be between {low:g} and {high:g}", f"give e.g. {flag} 0.05")
    return value


@click.command()
@click.argument("dirs", nargs=-1, required=True, type=DIRS)
@click.option("--baseline", default="1x", show_default=True, help="Profile the others are compared with.")
@click.option("--margin", default=3.0, show_default=True, type=float,
              help="Equivalence margin in percentage points (3 = ±3 points).")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown"]), default="text", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report document as JSON.")
@click.option("--plot", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE.png|svg",
              help="Draw success and infra-error rates against the limit (needs harness[plot]).")
@click.option("--alpha", default=0.05, show_default=True, type=float, help="Significance level.")
def report(dirs: tuple[Path, ...], baseline: str, margin: float, fmt: str, as_json: bool,
           plot: Path | None, alpha: float) -> None:
    """What the resource level did: per-profile rates with task-clustered intervals, paired
    comparisons with the baseline, trend, the calibrated band, tasks that flip, drift, set-up.

    DIR... are result directories of one sweep (shards from several hosts are read together).
    """
    with errors_exit(ExitStatus.BAD_INPUT):
        from harness.report.build import report_for_dirs
        from harness.report.render import render_markdown, render_text

        doc = report_for_dirs(list(dirs), baseline, _points(margin, "--margin"),
                              _probability(alpha, "--alpha", 0, 0.5))
        if plot is not None:
            from harness.report.plot import plot_report

            plot_report(doc, plot)
            say(f"harness: plot written to {plot}")
    if as_json:
        print_json(doc.to_json())
    else:
        click.echo(render_markdown(doc) if fmt == "markdown" else render_text(doc), nl=False)


@click.command()
@click.argument("a", type=DIRS)
@click.argument("b", type=DIRS)
@click.option("--margin", default=3.0, show_default=True, type=float,
              help="Equivalence margin in percentage points.")
@click.option("--alpha", default=0.05, show_default=True, type=float, help="Significance level.")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown"]), default="text", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare(a: Path, b: Path, margin: float, alpha: float, fmt: str, as_json: bool) -> None:
    """Reproducibility check: two sweeps A and B of the same tasks and profiles on fixed hardware.

    Lists the manifest fields that differ first, then per profile the paired difference and an
    equivalence verdict. Exit status: 0 reproduced within the margin, 1 a significant
    difference, 3 inconclusive (too few trials to say), 2 bad input.
    """
    with errors_exit(ExitStatus.BAD_INPUT):
        from harness.report.compare import compare_dirs, render_compare

        doc = compare_dirs([a], [b], _points(margin, "--margin"), _probability(alpha, "--alpha", 0, 0.5))
    if as_json:
        print_json(doc.to_json())
    else:
        click.echo(render_compare(doc, "github" if fmt == "markdown" else "simple"), nl=False)
    sys.exit(doc.exit_code)


@click.command()
@click.option("--omega2", type=float, help="ω²: across-task variance of the per-task difference.")
@click.option("--sigma2", type=float, default=None,
              help="σ²: mean within-task variance of one trial (a 0/1 trial has at most 0.25).")
@click.option("--base-rate", type=float, default=None,
              help="Instead of --sigma2: the expected rate P; σ² = P(1 − P), an upper bound.")
@click.option("--delta", type=float, help="Effect to detect, in percentage points (3 = 3 points).")
@click.option("--repeats", type=int, default=None, help="Trials per task and profile (K). Default 1, "
              "or the pilot's.")
@click.option("--tasks", "n_tasks", type=int, default=None,
              help="Number of tasks: gives the minimum detectable effect (and, with --delta, the repeats).")
@click.option("--family", type=int, default=None,
              help="Tests in the report's primary family, Holm-adjusted together: 2 × (profiles − 1). "
                   "Default 10 (the six default profiles), or from the pilot.")
@click.option("--alpha", default=0.05, show_default=True, type=float, help="Two-sided significance level.")
@click.option("--power", "power_", default=0.8, show_default=True, type=float, help="Power (1 − β).")
@click.option("--pilot", type=DIRS, multiple=True,
              help="Estimate ω² and σ² from this result directory (repeat for the shards of one sweep).")
@click.option("--baseline", default="1x", show_default=True, help="With --pilot: the baseline profile.")
@click.option("--json", "as_json", is_flag=True)
def power(omega2: float | None, sigma2: float | None, base_rate: float | None, delta: float | None,
          repeats: int | None, n_tasks: int | None, family: int | None, alpha: float, power_: float,
          pilot: tuple[Path, ...], baseline: str, as_json: bool) -> None:
    """How many tasks (or repeats) a paired comparison needs, or the minimum detectable effect,
    for the paired t-test the report applies (noncentral t, Holm's α/m over the primary family;
    Miller 2024 Eq. 9–10 is the normal approximation): variance per task ω² + 2σ²/K."""
    with errors_exit(ExitStatus.BAD_INPUT):
        from harness.report.power import power_plan

        doc = power_plan(omega2, sigma2, base_rate, None if delta is None else _points(delta, "--delta"),
                         repeats, n_tasks, _probability(alpha, "--alpha"), _probability(power_, "--power"),
                         family, list(pilot), baseline)
    if as_json:
        print_json(doc)
    else:
        click.echo("\n".join(doc["summary"]))
