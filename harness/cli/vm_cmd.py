"""`harness vm`: one command in a fresh user-mode Linux guest with pure cgroup v2."""

from __future__ import annotations

import os
import sys

import click

from harness.cli.common import errors_exit
from harness.exits import ExitStatus


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--mem", default="1G", show_default=True, metavar="SIZE",
              help="Guest memory (UML syntax: 512M, 1G).")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def vm(mem: str, command: tuple[str, ...]) -> None:
    """Run COMMAND in a fresh user-mode Linux guest (a real 6.1 kernel, pure cgroup v2,
    cgroup2 on /sys/fs/cgroup, 1 CPU, root), in the current directory, and exit with
    its status.

    The guest sees this host's files at the same paths, except /tmp (its own tmpfs).
    The environment is yours minus host-only variables (DISPLAY, SSH_AUTH_SOCK,
    XDG_RUNTIME_DIR, TMPDIR, ...); this python's directory comes first on PATH.
    Inside, HARNESS_IN_UML=1. Exit 125: the guest could not be started.

    \b
    Example:  harness vm -- cat /sys/fs/cgroup/cgroup.controllers
    """
    from harness.backends.uml_relay import run_once

    # The guest itself failed (no kernel, no boot): 125, as `env`, `timeout` and container
    # runtimes say, is not an exit status of the command.
    with errors_exit(ExitStatus.HARNESS):
        status = run_once(list(command), cwd=os.getcwd(), env=dict(os.environ), mem=mem)
    sys.exit(status)
