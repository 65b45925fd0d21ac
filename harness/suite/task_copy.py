"""Per-trial copies of a task, so that no workload runs from the suite itself.

The agent gets what Terminal-Bench shows an agent — the instruction, ``task.toml`` and
``environment/``, plus ``solution/`` only for the oracle — never ``tests/``. The verifier
runs from a fresh copy of the whole task made after the agent phase, so an agent that
edits a verifier changes only its own copy (and never a later trial's). The suite's
shared files (outside every task directory, e.g. the demo's ``_workloads/``) are copied
beside the task, as scripts reach them by relative path.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

AGENT_PARTS: tuple[str, ...] = ("instruction.md", "task.toml", "environment")
ORACLE_PARTS: tuple[str, ...] = (*AGENT_PARTS, "solution")
_SKIP = {".git", "__pycache__"}


def copy_task(suite_root: Path, task_dir: Path, dest: Path, parts: tuple[str, ...] | None) -> Path:
    """Copy ``task_dir`` (only ``parts`` of it, or all) and the shared files of the suite at
    ``suite_root`` under ``dest``; returns the copy of the task directory."""
    dest.mkdir(parents=True, exist_ok=True)
    if task_dir != suite_root:  # a one-task suite has no shared files
        for entry in sorted(task_dir.parent.iterdir()):
            if entry.name in _SKIP or entry == task_dir or _is_task(entry):
                continue
            _copy(entry, dest / entry.name)
    copy = dest / task_dir.name
    copy.mkdir()
    for entry in sorted(task_dir.iterdir()):
        if entry.name in _SKIP or (parts is not None and entry.name not in parts):
            continue
        _copy(entry, copy / entry.name)
    return copy


def task_digest(task_dir: Path, shared: bool) -> str:
    """sha256 over what :func:`copy_task` copies with ``parts=None`` (the task and, with
    ``shared``, its suite's shared files), by path relative to the task's parent: the same
    for a task in its suite and for a copy of it, so a copy can be checked against it."""
    holder = task_dir.parent
    tops = [task_dir]
    if shared:
        tops += [e for e in sorted(holder.iterdir())
                 if e.name not in _SKIP and e != task_dir and not _is_task(e)]
    files: list[Path] = []
    for top in tops:
        if top.is_file() or top.is_symlink():
            files.append(top)
            continue
        # Links are followed: what a verifier reads through a link is what must not change.
        for dirpath, dirnames, filenames in os.walk(top, followlinks=True):
            dirnames[:] = sorted(n for n in dirnames if n not in _SKIP)
            files.extend(Path(dirpath) / n for n in filenames)
    h = hashlib.sha256()
    for f in sorted(files, key=lambda p: p.relative_to(holder).as_posix()):
        rel = f.relative_to(holder).as_posix().encode()
        try:
            data = f.read_bytes()
        except OSError:  # a dangling link: its target's name is what there is
            data = b"dangling:" + os.readlink(f).encode()
        h.update(b"%d:%s\0%d:" % (len(rel), rel, len(data)))
        h.update(data)
    return h.hexdigest()


def _is_task(entry: Path) -> bool:
    return entry.is_dir() and (entry / "task.toml").is_file()


def _copy(src: Path, dst: Path) -> None:
    # Not shutil.copytree: it gathers errors into shutil.Error, which hides the errno (a
    # full disk must stop the sweep, not become this trial's verdict).
    if src.is_symlink() or not src.is_dir():
        shutil.copy2(src, dst, follow_symlinks=False)
        return
    dst.mkdir()
    for entry in sorted(src.iterdir()):
        if entry.name not in _SKIP:
            _copy(entry, dst / entry.name)
    shutil.copystat(src, dst)
