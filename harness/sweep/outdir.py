"""The result directory of a sweep: checked before anything is written (the lock that
guards it is `harness.sweep.lock`).

Rules (issue 11): every path handed on is absolute (a relative one means another thing
under the workload's own cwd); bad input is refused before the first write; and nothing
in a directory — its ``work/``, its ``trials.jsonl`` — is touched before its lock is held,
so that a refused second harness cannot damage the sweep that holds it.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

from harness.errors import UsageError
from harness.results.store import MANIFEST_FILE
from harness.sweep.lock import LOCK_FILE


def absolute(path: Path) -> Path:
    """``path`` made absolute against our cwd, without resolving symlinks."""
    return Path(os.path.abspath(path))


def check_new(out_dir: Path) -> Path:
    """The absolute ``--out`` of a new sweep, or a UsageError; writes nothing."""
    try:
        return _check_new(out_dir)
    except OSError as e:  # e.g. EACCES on a directory above it, for a non-root user
        raise UsageError(f"--out {out_dir}: cannot reach it ({e.strerror})",
                         "give a directory you may read and write") from None


def _check_new(out_dir: Path) -> Path:
    out = absolute(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out_dir}: is a file, not a directory", "give a new or empty directory")
    if out.is_dir():
        if (out / MANIFEST_FILE).exists():
            done = _finished(out / MANIFEST_FILE)
            raise UsageError(f"{out} already holds a {'finished' if done else 'started'} sweep",
                             "choose another --out" + ("" if done else
                                                       f", or finish it: harness sweep --resume {out}"))
        try:
            entries = [e for e in os.listdir(out) if e != LOCK_FILE]
        except OSError as e:
            raise UsageError(f"--out {out_dir}: cannot read it ({e.strerror})",
                             "give a directory you may read and write") from None
        if entries:
            raise UsageError(f"{out} is not empty", "give a new or empty --out directory")
        _check_writable(out, out_dir)
        return out
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"--out {out_dir}: {parent} is a file, so nothing can be created under it",
                         "give a directory path")
    _check_writable(parent, out_dir)
    return out


def _finished(manifest: Path) -> bool:
    try:
        doc = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and bool(doc.get("finished_at"))


def _check_writable(directory: Path, given: Path) -> None:
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(f"--out {given}: {directory} is not writable by this user (uid {os.getuid()})",
                         "give a directory you may write, or fix its permissions")


def check_apart(out: Path, suite: Path) -> None:
    """The results may not be written into the suite: its checksum (and every task's
    digest) would change under the sweep and void every trial."""
    o, s = Path(os.path.realpath(out)), Path(os.path.realpath(suite))
    if o == s or s in o.parents:
        raise UsageError(f"--out {out} is inside the suite {suite}",
                         "give a result directory outside the suite")


def check_existing(out_dir: Path) -> Path:
    """The absolute directory of ``--resume``, or a UsageError; writes nothing."""
    out = absolute(out_dir)
    try:
        out.is_dir() and (out / MANIFEST_FILE).is_file()
    except OSError as e:
        raise UsageError(f"--resume {out_dir}: cannot reach it ({e.strerror})",
                         "give a directory you may read and write") from None
    if not out.is_dir():
        raise UsageError(f"--resume {out_dir}: no such directory", "give the --out of a started sweep")
    if not (out / MANIFEST_FILE).is_file():
        raise UsageError(f"--resume {out_dir}: no {MANIFEST_FILE} there",
                         "give a directory that `harness sweep` wrote")
    _check_writable(out, out_dir)
    return out


def create(out: Path) -> None:
    """mkdir -p, with the reasons the kernel gives turned into clear errors."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        reason = "a part of it is a file" if e.errno in (errno.ENOTDIR, errno.EEXIST) else e.strerror
        raise UsageError(f"--out {out}: cannot create it ({reason})",
                         "give a directory path you may write") from None
