"""Crash-safe result files: ``trials.jsonl`` appended one whole line per trial, ``manifest.json``.

Each record is written with a single ``write()`` on an ``O_APPEND`` descriptor and then
``fsync``ed, so a SIGKILL lands either before or after a whole line. Only a power loss
can leave a torn last line; readers ignore it and ``repair`` cuts it off before a resume
appends again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ResultsError
from harness.schema.manifest import Manifest
from harness.schema.record import SCHEMA_VERSION as RECORD_VERSION
from harness.schema.version import check_version

TRIALS_FILE = "trials.jsonl"
MANIFEST_FILE = "manifest.json"


class TrialLog:
    """Appends trial records to ``trials.jsonl``, durably, one line per trial."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n").encode()
        written = os.write(self._fd, line)
        if written != len(line):  # a full disk; never leave half a line behind
            os.ftruncate(self._fd, os.fstat(self._fd).st_size - written)
            raise ResultsError(f"{self.path}: short write ({written} of {len(line)} bytes)",
                               "free disk space, then resume the sweep")
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> TrialLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class ReadResult:
    records: list[dict[str, Any]]
    torn_tail: bool  # the file ended in a partial line (ignored)


def iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, complete line) pairs; a last line without newline is not yielded."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            if raw.endswith(b"\n"):
                yield number, raw


def read_trials(path: Path) -> ReadResult:
    """All complete records of a ``trials.jsonl``. A corrupt complete line is an error."""
    if not path.exists():
        raise ResultsError(f"{path}: no such file", "give a directory that `harness sweep` wrote")
    records = []
    last_complete = True
    for number, raw in iter_lines(path):
        try:
            rec = json.loads(raw)
        except json.JSONDecodeError as e:
            raise ResultsError(
                f"{path}:{number}: not a JSON record ({e.msg} at column {e.colno})",
                "the file was edited or damaged; delete that line (the trial will be re-run by "
                "`harness sweep --resume`)",
            ) from None
        if not isinstance(rec, dict):
            raise ResultsError(f"{path}:{number}: a record must be a JSON object",
                               "delete that line and resume the sweep")
        records.append(check_version(rec, f"{path}:{number}", "trial record", RECORD_VERSION))
    size = path.stat().st_size
    if size:
        with open(path, "rb") as f:
            f.seek(size - 1)
            last_complete = f.read(1) == b"\n"
    return ReadResult(records, torn_tail=not last_complete)


def repair(path: Path) -> int:
    """Cut a torn last line off ``path``; returns the bytes removed."""
    if not path.exists():
        return 0
    data_end = 0
    with open(path, "rb") as f:
        for line in f:
            if line.endswith(b"\n"):
                data_end += len(line)
    removed = path.stat().st_size - data_end
    if removed:
        with open(path, "r+b") as f:
            f.truncate(data_end)
            os.fsync(f.fileno())
    return removed


def write_json_atomic(path: Path, doc: dict[str, Any]) -> None:
    """Write ``doc`` so that ``path`` is always either the old or the new whole file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_manifest(directory: Path, manifest: Manifest) -> None:
    write_json_atomic(directory / MANIFEST_FILE, manifest.to_json())


def read_manifest(directory: Path) -> Manifest:
    """The manifest of a result directory; a ResultsError naming what is wrong and the fix."""
    path = directory / MANIFEST_FILE
    if not path.exists():
        raise ResultsError(f"{directory}: no {MANIFEST_FILE}",
                           "give a directory that `harness sweep` wrote (it holds manifest.json "
                           "and trials.jsonl)")
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ResultsError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})",
                           "restore the file; it is written whole at the start and end of a sweep") from None
    if not isinstance(doc, dict):
        raise ResultsError(f"{path}: must hold a JSON object", "restore the file")
    try:
        return Manifest.from_json(doc, str(path))
    except (TypeError, ValueError, AttributeError) as e:
        raise ResultsError(f"{path}: not a manifest `harness sweep` wrote ({e})",
                           "restore the file; it is written whole at the start and end of a sweep") from None
