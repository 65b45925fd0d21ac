"""Per-task spec overrides: memory and CPUs that replace a task's declared ones for a sweep.

`harness advise --write-overrides FILE` writes one; `harness sweep --spec-overrides FILE`
takes it. The profiles then scale the new spec (1x = the advised guarantee). TOML:

    [task.spike-install]
    memory = "64M"     # a size, or bytes
    cpus = 1           # optional; the declared CPUs where absent
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.suite.parse import Suite
from harness.tomlfile import read_toml
from harness.units import format_size, parse_cpus, parse_size

Overrides = dict[str, dict[str, Any]]  # task -> {"memory_bytes": int, "cpus": float} (either may be absent)
_KEYS = ("memory", "cpus")


def load(path: Path) -> Overrides:
    """Read an overrides file; one UsageError listing every problem."""
    data = read_toml(path, "spec overrides", "give the file `harness advise --write-overrides` wrote",
                     "correct the overrides file")
    problems: list[str] = []
    out: Overrides = {}
    extra = [k for k in data if k != "task"]
    if extra:
        problems.append(f"unknown top-level field(s) {', '.join(map(repr, extra))}: only [task.NAME] tables")
    tasks = data.get("task", {})
    if not isinstance(tasks, dict) or not tasks:
        problems.append("no [task.NAME] tables")
        tasks = {}
    for name, table in tasks.items():
        if not isinstance(table, dict):
            problems.append(f"task {name!r}: must be a table with memory and/or cpus")
            continue
        entry: dict[str, Any] = {}
        for key in table:
            if key not in _KEYS:
                problems.append(f"task {name!r}: unknown field {key!r} (known: memory, cpus)")
        try:
            if "memory" in table:
                entry["memory_bytes"] = parse_size(table["memory"], f"task {name!r}: memory")
            if "cpus" in table:
                entry["cpus"] = parse_cpus(table["cpus"], f"task {name!r}: cpus")
        except UsageError as e:
            problems.append(e.message)
        if not entry and not problems:
            problems.append(f"task {name!r}: neither memory nor cpus")
        out[name] = entry
    if problems:
        raise UsageError(f"spec overrides {path}: {len(problems)} problem(s)\n"
                         + "\n".join(f"  - {p}" for p in problems), "correct the fields named above")
    return out


def apply(suite: Suite, overrides: Overrides | None) -> Suite:
    """``suite`` with each overridden task's memory/CPUs replaced; unknown task names are refused."""
    if not overrides:
        return suite
    unknown = sorted(set(overrides) - set(suite.names))
    if unknown:
        raise UsageError(f"spec overrides name task(s) not in the suite: {', '.join(unknown)}",
                         f"the suite has: {', '.join(suite.names)}; drop or rename those tables")
    tasks = tuple(replace(t, memory_bytes=overrides[t.name].get("memory_bytes", t.memory_bytes),
                          cpus=overrides[t.name].get("cpus", t.cpus))
                  if t.name in overrides else t for t in suite.tasks)
    return replace(suite, tasks=tasks)


def render(overrides: Overrides, comments: dict[str, str] | None = None, header: str = "") -> str:
    """The TOML text of ``overrides`` (what `load` reads back)."""
    lines = [f"# {h}" for h in header.splitlines()] + ([""] if header else [])
    for name in sorted(overrides):
        entry = overrides[name]
        if comments and name in comments:
            lines.append(f"# {comments[name]}")
        lines.append(f'[task."{name}"]')
        if "memory_bytes" in entry:
            lines.append(f'memory = "{format_size(entry["memory_bytes"])}"')
        if "cpus" in entry:
            lines.append(f"cpus = {entry['cpus']:g}")
        lines.append("")
    return "\n".join(lines)
