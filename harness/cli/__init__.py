"""The `harness` command: a thin shell over the library. Subcommands load lazily, so that
`harness run` never pays for numpy or scipy."""

from __future__ import annotations

import importlib

import click

from harness import __version__

# name -> "module:attribute" of a click command
_COMMANDS = {
    "run": "harness.cli.run_cmd:run",
    "doctor": "harness.cli.doctor_cmd:doctor",
    "vm": "harness.cli.vm_cmd:vm",
    "sweep": "harness.cli.sweep_cmd:sweep",
    "demo": "harness.cli.demo_cmd:demo",
    "report": "harness.cli.report_cmds:report",
    "compare": "harness.cli.report_cmds:compare",
    "power": "harness.cli.report_cmds:power",
    "show": "harness.cli.show_cmd:show",
    "advise": "harness.cli.advise_cmd:advise",
    "shard": "harness.cli.shard_cmd:shard",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = _COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harness")
def main() -> None:
    """Run agent workloads in cgroup-v2 trial cgroups with the memory guarantee and the
    kill threshold set apart; sweep resource profiles; report what they did.

    stdout carries data (tables, JSON); progress and messages go to stderr.
    """
