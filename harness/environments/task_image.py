"""What a task says about its container: a Dockerfile to build, a prebuilt image, network."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.suite.task import TaskSpec

TAG_PREFIX = "localhost/harness-task"


@dataclass(frozen=True)
class TaskImage:
    """``environment/`` (built, tagged by a hash of its files) or ``docker_image`` (pulled)."""

    task: str
    context: Path | None  # environment/ when it holds a Dockerfile
    docker_image: str | None
    allow_internet: bool
    env: tuple[tuple[str, str], ...] = ()  # [environment.env]: the container's environment
    verifier_env: tuple[tuple[str, str], ...] = ()  # [verifier.env]
    solution_env: tuple[tuple[str, str], ...] = ()  # [solution.env], for the oracle

    @property
    def containerized(self) -> bool:
        return self.context is not None or self.docker_image is not None

    def build_tag(self) -> str:
        assert self.context is not None
        name = re.sub(r"[^a-z0-9]+", "-", self.task.lower()).strip("-") or "task"
        return f"{TAG_PREFIX}-{name}:{context_hash(self.context)}"


def task_image(task: TaskSpec) -> TaskImage:
    env = _table(task, "environment")
    context = task.path / "environment"
    image = env.get("docker_image")
    internet = env.get("allow_internet", True)  # Terminal-Bench's default
    return TaskImage(task=task.name,
                     context=context if (context / "Dockerfile").is_file() else None,
                     docker_image=image if isinstance(image, str) and image.strip() else None,
                     allow_internet=internet is not False, env=_env(env.get("env")),
                     verifier_env=_env(_table(task, "verifier").get("env")),
                     solution_env=_env(_table(task, "solution").get("env")))


def _table(task: TaskSpec, name: str) -> dict[str, Any]:
    t = task.metadata.get(name)
    return t if isinstance(t, dict) else {}


def _env(table: Any) -> tuple[tuple[str, str], ...]:
    """A task.toml ``env`` table as pairs (scalars only, as strings; TOML booleans as true/false)."""
    if not isinstance(table, dict):
        return ()
    out = []
    for k, v in table.items():
        if isinstance(v, bool):
            out.append((str(k), "true" if v else "false"))
        elif isinstance(v, (str, int, float)):
            out.append((str(k), str(v)))
    return tuple(out)


def context_hash(directory: Path) -> str:
    """A hash over every file's relative path, mode and content: a new tag when any changes."""
    h = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file() or p.is_symlink()):
        rel = path.relative_to(directory).as_posix()
        h.update(rel.encode() + b"\0")
        if path.is_symlink():
            h.update(b"L" + str(path.readlink()).encode())
        else:
            h.update(oct(path.stat().st_mode & 0o777).encode() + path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]
