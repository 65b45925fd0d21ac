"""`harness doctor`: can trials run here, and if not, what fixes it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.cli.common import print_json
from harness.exits import ExitStatus


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.option("--cgroup-root", type=click.Path(path_type=Path), default=None)
def doctor(as_json: bool, cgroup_root: Path | None) -> None:
    """Check this host: cgroup layout, where the harness would work, controllers, files.

    Exit status 0 when trials can run here (natively or in user-mode Linux), 1 otherwise.
    """
    from harness.doctor import diagnose

    d = diagnose(cgroup_root)
    if as_json:
        print_json(d.to_dict())
    else:
        for c in d.checks:
            mark = {True: "ok  ", False: "FAIL", None: "    "}[c.ok]
            click.echo(f"{mark} {c.name}: {c.value}")
            if c.fix and c.ok is not True:
                click.echo(f"       fix: {c.fix}")
        auto = d.auto_backend
        click.echo(f"backend auto -> {auto or 'none: trials cannot run here'}")
    sys.exit(ExitStatus.OK if d.auto_backend else ExitStatus.CANNOT_RUN)
