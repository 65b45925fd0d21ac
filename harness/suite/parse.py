"""Reading a suite directory: every task parsed, every problem found, before anything runs.

A suite is a directory of task directories (or a directory with a ``tasks/`` directory of
them, or a single task directory). A task directory holds ``task.toml``, ``instruction.md``,
``tests/test.sh`` and, for the oracle agent, ``solution/solve.sh``. Directories whose name
starts with ``.`` or ``_`` are not tasks (the demo suite keeps shared scripts in one).
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.suite.task import (
    DEFAULT_AGENT_TIMEOUT_SEC,
    DEFAULT_CPUS,
    DEFAULT_MEMORY_BYTES,
    DEFAULT_VERIFIER_TIMEOUT_SEC,
    SAFE_NAME_RE,
    TaskSpec,
)
from harness.units import parse_size

KNOWN_SCHEMAS = ("1.0", "1.1")
_TASK_MARKERS = ("task.toml", "task.yaml", "instruction.md", "tests", "solution")
_SKIP_PARTS = ("__pycache__", ".git")
MIB = 1 << 20


class SuiteError(UsageError):
    """A suite that cannot be run; ``problems`` lists every one of them, one line each."""

    def __init__(self, path: Path, problems: Iterable[str]) -> None:
        self.problems = tuple(dict.fromkeys(problems))  # a table read twice reports once
        lines = "\n".join(f"  - {p}" for p in self.problems)
        count = len(self.problems)
        super().__init__(
            f"suite {path}: {count} problem{'s' if count != 1 else ''}\n{lines}",
            "correct the files named above (paths are relative to the suite); nothing has run",
        )


@dataclass(frozen=True)
class Suite:
    """The selected tasks of a suite, sorted by name, and a checksum of their files.

    ``checksum`` is sha256 over the selected tasks' files and the suite's shared files
    (those in no task directory), in sorted relative-path order; caches and ``.git`` are
    left out. ``warnings`` are things that do not stop a sweep (a task without an oracle,
    an unknown schema version).
    """

    name: str
    path: Path
    tasks: tuple[TaskSpec, ...]
    checksum: str
    warnings: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tasks)

    def task(self, name: str) -> TaskSpec:
        for t in self.tasks:
            if t.name == name:
                return t
        raise KeyError(name)


def load_suite(path: Path, only: list[str] | None = None) -> Suite:
    """Parse the suite at ``path``; with ``only``, just those tasks. Raises SuiteError."""
    root = Path(path).resolve()
    if not root.is_dir():
        raise SuiteError(root, [f"{path}: no such directory"])
    dirs = _task_dirs(root)
    problems: list[str] = []
    warnings: list[str] = []
    if not dirs:
        problems.append(f"{root}: no task directories (each needs a task.toml)")
    by_name = {d.name: d for d in dirs}
    selected = sorted(by_name)
    if only is not None:
        wanted = list(dict.fromkeys(only))
        unknown = [n for n in wanted if n not in by_name]
        if not wanted:
            problems.append("--tasks: no task names given")
        for n in unknown:
            problems.append(f"--tasks: no task named {n!r}; the suite has: {', '.join(selected) or 'none'}")
        selected = sorted(n for n in wanted if n in by_name)
    tasks = []
    for name in selected:
        task = _parse_task(root, by_name[name], problems, warnings)
        if task is not None:
            tasks.append(task)
    if problems:
        raise SuiteError(root, problems)
    checksum = suite_checksum(root, [by_name[n] for n in selected], dirs)
    return Suite(root.name, root, tuple(tasks), checksum, tuple(warnings))


def _task_dirs(root: Path) -> list[Path]:
    if (root / "task.toml").is_file():
        return [root]
    found = [d for d in sorted(root.iterdir())
             if d.is_dir() and not d.name.startswith((".", "_"))
             and any((d / m).exists() for m in _TASK_MARKERS)]
    if not found and (root / "tasks").is_dir():
        return _task_dirs(root / "tasks")
    return found


def _parse_task(root: Path, d: Path, problems: list[str], warnings: list[str]) -> TaskSpec | None:
    rel = d.relative_to(root).as_posix() if d != root else d.name
    before = len(problems)
    if not SAFE_NAME_RE.match(d.name):
        problems.append(f"{rel}: task name {d.name!r} has characters outside [A-Za-z0-9._-] "
                        "(it becomes a directory and cgroup name); rename the directory")
    toml_path = d / "task.toml"
    data: dict[str, Any] = {}
    if not toml_path.is_file():
        if (d / "task.yaml").is_file():
            problems.append(f"{rel}/task.yaml: Terminal-Bench 1 format is not read; "
                            "convert the task to task.toml (Terminal-Bench 2 / Harbor)")
        else:
            problems.append(f"{rel}/task.toml: missing")
    else:
        try:
            with toml_path.open("rb") as f:
                data = tomllib.load(f)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            problems.append(f"{rel}/task.toml: not valid TOML: {e}")
        except OSError as e:
            problems.append(f"{rel}/task.toml: cannot read: {e.strerror}")
    for name, what in (("instruction.md", "the instruction"), ("tests/test.sh", "the verifier")):
        if not (d / name).is_file():
            problems.append(f"{rel}/{name}: missing ({what})")
    solve = d / "solution" / "solve.sh"
    if not solve.is_file():
        warnings.append(f"{rel}: no solution/solve.sh; only an --agent other than the oracle can run it")

    fields = _Fields(f"{rel}/task.toml", data, problems)
    schema = data.get("schema_version", data.get("version"))
    if schema is not None and str(schema) not in KNOWN_SCHEMAS:
        warnings.append(f"{rel}/task.toml: schema version {schema!r} unknown; read as 1.1")
    cpus = fields.number("environment", "cpus")
    memory = fields.memory()
    agent_timeout = fields.number("agent", "timeout_sec")
    verifier_timeout = fields.number("verifier", "timeout_sec")
    if len(problems) > before:
        return None
    defaulted = tuple(n for n, v in (("cpus", cpus), ("memory", memory), ("agent.timeout_sec", agent_timeout),
                                     ("verifier.timeout_sec", verifier_timeout)) if v is None)
    return TaskSpec(
        name=d.name, path=d,
        cpus=DEFAULT_CPUS if cpus is None else float(cpus),
        memory_bytes=DEFAULT_MEMORY_BYTES if memory is None else memory,
        agent_timeout_sec=DEFAULT_AGENT_TIMEOUT_SEC if agent_timeout is None else float(agent_timeout),
        verifier_timeout_sec=(DEFAULT_VERIFIER_TIMEOUT_SEC if verifier_timeout is None
                              else float(verifier_timeout)),
        instruction_path=d / "instruction.md",
        solve_path=solve if solve.is_file() else None,
        test_path=d / "tests" / "test.sh",
        metadata=data, defaulted=defaulted,
    )


class _Fields:
    """Typed reads of task.toml fields that append a problem instead of raising."""

    def __init__(self, where: str, data: dict[str, Any], problems: list[str]) -> None:
        self.where, self.data, self.problems = where, data, problems

    def table(self, name: str) -> dict[str, Any]:
        value = self.data.get(name, {})
        if not isinstance(value, dict):
            self.problems.append(f"{self.where}: [{name}] must be a table, not {type(value).__name__}")
            return {}
        return value

    def number(self, table: str, key: str) -> float | None:
        value = self.table(table).get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            self.problems.append(f"{self.where}: [{table}] {key}: {value!r} is not a positive number")
            return None
        return float(value)

    def memory(self) -> int | None:
        """``memory_mb`` (MiB, schema 1.1) or the older ``memory = "2G"`` string."""
        env = self.table("environment")
        mb, text = env.get("memory_mb"), env.get("memory")
        from_mb = from_text = None
        if mb is not None:
            if isinstance(mb, bool) or not isinstance(mb, int | float) or not mb > 0:
                hint = ' (for a size string write memory = "2G")' if isinstance(mb, str) else ""
                self.problems.append(f"{self.where}: [environment] memory_mb: {mb!r} is not a positive "
                                     f"number of MiB{hint}")
            else:
                from_mb = int(mb * MIB)
        if text is not None:
            if not isinstance(text, str):
                self.problems.append(f"{self.where}: [environment] memory: {text!r} is not a size string "
                                     '(write memory = "2G" or memory_mb = 2048)')
            else:
                try:
                    from_text = parse_size(text, "memory")
                except UsageError:
                    self.problems.append(f"{self.where}: [environment] memory: {text!r} is not a size "
                                         "(write e.g. \"2G\" or \"512M\")")
        if from_mb is not None and from_text is not None and from_mb != from_text:
            self.problems.append(f"{self.where}: [environment] memory_mb = {mb!r} and memory = {text!r} "
                                 "disagree; keep one")
        return from_mb if from_mb is not None else from_text


def suite_checksum(root: Path, selected: list[Path], all_tasks: list[Path]) -> str:
    """sha256 over the files of ``selected`` and the files outside every task directory."""
    task_set = set(all_tasks)
    files: list[Path] = []
    for d in selected:
        files.extend(_files(d, set()))
    if root not in task_set:
        files.extend(_files(root, task_set))
    h = hashlib.sha256()
    for f in sorted(set(files), key=lambda p: p.relative_to(root).as_posix()):
        rel = f.relative_to(root).as_posix().encode()
        data = f.read_bytes()
        h.update(b"%d:%s\0%d:" % (len(rel), rel, len(data)))
        h.update(data)
    return h.hexdigest()


def _files(top: Path, exclude: set[Path]) -> list[Path]:
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(top):
        here = Path(dirpath)
        dirnames[:] = sorted(n for n in dirnames if n not in _SKIP_PARTS and here / n not in exclude)
        out.extend(here / n for n in filenames if not n.endswith(".pyc") and (here / n).is_file())
    return out
