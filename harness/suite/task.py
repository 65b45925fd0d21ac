"""One task of a suite, as the sweep needs it: its resource spec, timeouts and files."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Defaults where task.toml says nothing, as Harbor's TaskConfig has them.
DEFAULT_CPUS = 1.0
DEFAULT_MEMORY_BYTES = 2 << 30  # 2G
DEFAULT_AGENT_TIMEOUT_SEC = 900.0
DEFAULT_VERIFIER_TIMEOUT_SEC = 900.0

# Task names become directory names and parts of cgroup names: keep them to this set.
SAFE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class TaskSpec:
    """A parsed task directory.

    ``solve_path`` is None when the task has no ``solution/solve.sh`` (then only a
    non-oracle agent can run it). ``metadata`` holds task.toml as parsed, every table
    and field, for records and reports; the harness reads only the fields above.
    ``defaulted`` names the fields that task.toml left out and took a default.
    """

    name: str
    path: Path
    cpus: float
    memory_bytes: int
    agent_timeout_sec: float
    verifier_timeout_sec: float
    instruction_path: Path
    solve_path: Path | None
    test_path: Path
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    defaulted: tuple[str, ...] = ()

    @property
    def has_oracle(self) -> bool:
        return self.solve_path is not None

    @property
    def memory_mb(self) -> float:
        return self.memory_bytes / (1 << 20)
