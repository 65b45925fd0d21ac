"""A columnar copy of the fields a report reads from ``trials.jsonl``, kept beside it.

Parsing a million ~2 KB JSON lines costs seconds of CPU every time a report, a compare or
a plot reads a finished sweep; the handful of fields the report uses fit in a few arrays.
The copy (``.report-columns.npz``) is used only while it describes the very file it was
made from: same device, inode, size and modification time (ns), and the same cache
version. Anything else (a sweep still appending, a hand edit, a copy) is parsed again from
the JSON, which stays the only source of truth. A directory we may not write (an archive)
simply gets no cache.
"""

from __future__ import annotations

import contextlib
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.schema.record import SCHEMA_VERSION as RECORD_VERSION

CACHE_FILE = ".report-columns.npz"
CACHE_VERSION = 2  # 2: multipliers are (memory, cpu, timeout)


@dataclass
class Columns:
    """The report's fields of one ``trials.jsonl`` (or of a byte range of it), in file order."""

    trial_id: list[str] = field(default_factory=list)
    task: list[str] = field(default_factory=list)
    profile: list[str] = field(default_factory=list)
    host: list[str] = field(default_factory=list)
    category: bytearray = field(default_factory=bytearray)
    started: list[float] = field(default_factory=list)
    multipliers: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # memory, cpu, timeout
    reasons: dict[tuple[str, str], int] = field(default_factory=dict)
    line_offset: int = 0  # lines before this range (for messages)


def _stamp(trials: Path) -> list[int]:
    # The record schema is in the stamp too: a harness that reads records differently
    # never takes the columns another one made.
    st = trials.stat()
    return [CACHE_VERSION, RECORD_VERSION, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


def load(trials: Path) -> Columns | None:
    """The cached columns of ``trials``, or None when there is no fresh, readable copy."""
    cache = trials.parent / CACHE_FILE
    try:
        stamp = _stamp(trials)
        with np.load(cache, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            if meta.get("stamp") != stamp:
                return None
            arrays = {k: z[k] for k in ("trial_id", "task", "profile", "host", "category", "started")}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError):
        return None
    names = meta["names"]

    def decode(key: str) -> list[str]:
        table = names[key]
        return [table[i] for i in arrays[key].tolist()]

    blob = bytes(arrays["trial_id"]).decode()
    return Columns(
        trial_id=blob.split("\n") if blob else [],
        task=decode("task"), profile=decode("profile"), host=decode("host"),
        category=bytearray(arrays["category"].tobytes()), started=arrays["started"].tolist(),
        multipliers={p: (m[0], m[1], m[2]) for p, m in meta["multipliers"].items()},
        reasons={(p, r): n for p, r, n in meta["reasons"]},
    )


def save(trials: Path, cols: Columns, stamp: list[int]) -> None:
    """Write the cache for ``trials`` as it was when ``stamp`` was taken (before parsing):
    if the file changed meanwhile the stamp no longer matches and the cache is never used."""
    if any("\n" in t for t in cols.trial_id):  # the ids are stored newline-separated
        return
    names: dict[str, list[str]] = {}
    codes: dict[str, np.ndarray] = {}
    for key in ("task", "profile", "host"):
        values: list[str] = getattr(cols, key)
        table = sorted(set(values))
        index = {n: i for i, n in enumerate(table)}
        names[key] = table
        codes[key] = np.fromiter(map(index.__getitem__, values), dtype=np.int32, count=len(values))
    meta = {"stamp": stamp, "names": names,
            "multipliers": {p: list(m) for p, m in cols.multipliers.items()},
            "reasons": [[p, r, n] for (p, r), n in cols.reasons.items()]}
    cache = trials.parent / CACHE_FILE
    tmp = trials.parent / f".{CACHE_FILE}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            np.savez(f, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                     trial_id=np.frombuffer("\n".join(cols.trial_id).encode(), dtype=np.uint8),
                     category=np.frombuffer(bytes(cols.category), dtype=np.int8),
                     started=np.asarray(cols.started, dtype=np.float64),
                     task=codes["task"], profile=codes["profile"], host=codes["host"])
        os.replace(tmp, cache)
    except OSError:  # a read-only or full result directory: no cache, nothing else changes
        with contextlib.suppress(OSError):
            tmp.unlink()


def stamp_of(trials: Path) -> list[int]:
    """What ``save`` needs to know about ``trials`` before it is parsed."""
    return _stamp(trials)
