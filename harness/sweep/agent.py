"""The agent command of a sweep: a template filled in per trial."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UsageError

ORACLE = "bash {task_dir}/solution/solve.sh"
PLACEHOLDERS = ("task_dir", "instruction", "workdir", "task", "python", "container")


@dataclass(frozen=True)
class AgentTemplate:
    """e.g. ``my-agent --task {instruction} --cwd {workdir}``; the default is the oracle."""

    template: str = ORACLE

    @property
    def is_oracle(self) -> bool:
        return self.template == ORACLE

    def validate(self) -> None:
        try:
            words = shlex.split(self.template)
        except ValueError as e:
            raise UsageError(f"--agent {self.template!r}: {e}", "quote it as a shell would") from None
        if not words:
            raise UsageError("--agent is empty", f"give a command, e.g. {ORACLE!r}")
        try:
            self.expand(Path("/t"), Path("/t/instruction.md"), Path("/w"), "t")
        except (KeyError, IndexError, ValueError) as e:
            raise UsageError(f"--agent {self.template!r}: unknown placeholder {e}",
                             f"use only {', '.join('{' + p + '}' for p in PLACEHOLDERS)}") from None

    def expand(self, task_dir: Path, instruction: Path, workdir: Path, task: str,
               container: str = "") -> list[str]:
        values = {"task_dir": str(task_dir), "instruction": str(instruction), "workdir": str(workdir),
                  "task": task, "python": sys.executable, "container": container}
        return [word.format(**values) for word in shlex.split(self.template)]
