"""Read one or more result directories (shards of one sweep) into a `TrialTable`.

Each ``trials.jsonl`` line is parsed with ``orjson.loads`` (about 3× faster than the standard
library's on these records) and only the fields a report needs are kept. A million ~2 KB
records is CPU-bound parsing, so a large
file is split into byte ranges parsed by worker processes; a torn last line is ignored (as
``harness.results.store`` does), a corrupt complete line is an error naming file and line.
"""

from __future__ import annotations

import itertools
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from harness.errors import ResultsError
from harness.report import column_cache
from harness.report.column_cache import Columns
from harness.results import store
from harness.schema.manifest import Manifest
from harness.schema.record import (
    CATEGORY_CODE,
    CPU_MULTIPLIER,
    HOST,
    INFRA_CODE,
    INFRA_REASON,
    MEMORY_MULTIPLIER,
    OUTCOME,
    OUTCOMES,
    PROFILE,
    RECORD_VERSIONS,
    REQUIRED_REPORT_KEYS,
    STARTED_AT,
    TASK,
    TIMEOUT_MULTIPLIER,
    TRIAL_ID,
    VERIFIER,
)
from harness.schema.record import SCHEMA_VERSION as RECORD_VERSION
from harness.schema.version import SCHEMA_KEY, check_version
from harness.stats.table import TrialTable

PARALLEL_MIN_BYTES = 64 << 20  # below this, one process is faster than starting workers


@dataclass
class Sweep:
    """Trials of one sweep read from ``dirs``, with each directory's manifest."""

    table: TrialTable
    dirs: list[Path]
    manifests: list[Manifest]
    infra_reasons: dict[str, dict[str, int]]  # profile -> infra_reason -> count
    warnings: list[str] = field(default_factory=list)

    @property
    def manifest(self) -> Manifest:
        return self.manifests[0]


def load_dirs(dirs: list[Path], workers: int | None = None) -> Sweep:
    """Read ``dirs`` as one sweep; raise ResultsError naming what is wrong, where, and the fix."""
    if not dirs:
        raise ResultsError("no result directory given", "give one or more directories `harness sweep` wrote")
    dirs = expand_dirs([Path(d) for d in dirs])
    manifests, warnings = _check_manifests(dirs)
    parts: list[Columns] = []
    for d in dirs:
        path = d / store.TRIALS_FILE
        if not path.exists():
            raise ResultsError(f"{d}: no {store.TRIALS_FILE}",
                               "give a directory that `harness sweep` wrote (the sweep may not have started)")
        cols = columns(path, workers)
        if not cols.task:
            raise ResultsError(f"{path}: holds no complete trial record",
                               "run or resume the sweep first (`harness sweep --resume`)")
        parts.append(cols)
    return _assemble(dirs, manifests, parts, warnings)


def columns(path: Path, workers: int | None = None) -> Columns:
    """The report's fields of one ``trials.jsonl``: its fresh columnar copy, else parsed (and the
    copy written for the next reader)."""
    cols = column_cache.load(path)
    if cols is None:
        stamp = column_cache.stamp_of(path)
        cols = _read_file(path, workers)
        if cols.task:
            column_cache.save(path, cols, stamp)
    return cols


def expand_dirs(dirs: list[Path]) -> list[Path]:
    """A directory without a manifest whose subdirectories have one (the shards of one sweep,
    as `harness demo` writes them) stands for those subdirectories."""
    out: list[Path] = []
    for d in dirs:
        shards = sorted(p.parent for p in d.glob(f"*/{store.MANIFEST_FILE}"))
        out.extend(shards if not (d / store.MANIFEST_FILE).exists() and shards else [d])
    return out


def _check_manifests(dirs: list[Path]) -> tuple[list[Manifest], list[str]]:
    for d in dirs:
        if not d.is_dir():
            raise ResultsError(f"{d}: {'not a directory' if d.exists() else 'no such directory'}",
                               "give a result directory that `harness sweep` wrote")
    manifests = [store.read_manifest(d) for d in dirs]
    warnings: list[str] = []
    first = manifests[0]
    for d, m in zip(dirs[1:], manifests[1:], strict=True):
        if m.sweep_id == first.sweep_id and m.shard == first.shard:
            raise ResultsError(f"{d} and {dirs[0]} are the same shard of sweep {m.sweep_id}",
                               "give each shard once")
        ca, cb = first.suite.checksum, m.suite.checksum
        if ca != cb:
            raise ResultsError(
                f"{d} ran suite {m.suite.name!r} (checksum {cb}) but {dirs[0]} ran "
                f"{first.suite.name!r} (checksum {ca}): mixed suites",
                "report each suite separately; shards of one sweep share the suite checksum")
        if m.sweep_id != first.sweep_id:
            warnings.append(f"{d} is sweep {m.sweep_id}, {dirs[0]} is {first.sweep_id}: "
                            "read together because they ran the same suite")
    for d, m in zip(dirs, manifests, strict=True):
        if m.suite.changed_during_sweep:
            warnings.append(f"{d}: the suite changed during the sweep (a workload may have edited it); "
                            "its records are suspect")
        if m.finished_at is None:
            warnings.append(f"{d}: the sweep did not finish (no finished_at); its trials are used as "
                            "they are")
    return manifests, warnings


def _read_file(path: Path, workers: int | None) -> Columns:
    size = path.stat().st_size
    n = workers if workers is not None else min(os.cpu_count() or 1, 8)
    if size < PARALLEL_MIN_BYTES or n <= 1:
        return _parse_range(str(path), 0, size, 0)
    bounds = _split(path, size, n * 4)
    with ProcessPoolExecutor(max_workers=n) as pool:
        chunks = list(pool.map(_parse_range, [str(path)] * len(bounds), *zip(*bounds, strict=True)))
    out = chunks[0]
    for c in chunks[1:]:
        out.trial_id += c.trial_id
        out.task += c.task
        out.profile += c.profile
        out.host += c.host
        out.category += c.category
        out.started += c.started
        for k, v in c.multipliers.items():
            _same_multipliers(out.multipliers, k, v, path, -1)
        for rk, n in c.reasons.items():
            out.reasons[rk] = out.reasons.get(rk, 0) + n
        out.late_passes += c.late_passes
    return out


def _split(path: Path, size: int, pieces: int) -> list[tuple[int, int, int]]:
    """(start, end, first line number − 1) ranges that start at line starts."""
    cuts = [0]
    with open(path, "rb") as f:
        for i in range(1, pieces):
            f.seek(max(size * i // pieces, cuts[-1]))
            f.readline()
            cuts.append(min(f.tell(), size))
        cuts.append(size)
        lines_before = [0]
        f.seek(0)
        for a, b in itertools.pairwise(cuts[:-1]):
            lines_before.append(lines_before[-1] + f.read(b - a).count(b"\n"))
    return [(a, b, lb) for a, b, lb in zip(cuts[:-1], cuts[1:], lines_before, strict=True) if b > a]


def _parse_range(path_str: str, start: int, end: int, line_offset: int) -> Columns:
    path = Path(path_str)
    cols = Columns(line_offset=line_offset)
    loads, cat_code = orjson.loads, CATEGORY_CODE
    with open(path, "rb") as f:
        f.seek(start)
        pos, number = start, line_offset
        for raw in f:
            if pos >= end:
                break
            pos += len(raw)
            number += 1
            if not raw.endswith(b"\n"):
                break  # a torn last line: ignored, as the store does
            try:
                rec = loads(raw)
                if rec[SCHEMA_KEY] not in RECORD_VERSIONS:  # raises on the rare other version
                    check_version(rec, f"{path}:{number}", "trial record", RECORD_VERSION)
                code = cat_code[rec[OUTCOME]]
                cols.task.append(str(rec[TASK]))
                profile = str(rec[PROFILE])
                cols.profile.append(profile)
                cols.trial_id.append(str(rec[TRIAL_ID]))
                cols.host.append(str(rec.get(HOST) or "unknown"))
                cols.category.append(code)
                cols.started.append(_epoch(rec.get(STARTED_AT)))
                mult = (rec.get(MEMORY_MULTIPLIER), rec.get(CPU_MULTIPLIER), rec.get(TIMEOUT_MULTIPLIER, 1.0))
                if cols.multipliers.get(profile) != mult:
                    _same_multipliers(cols.multipliers, profile, mult, path, number)
                if code == INFRA_CODE:
                    rkey = (profile, str(rec.get(INFRA_REASON) or "unknown"))
                    cols.reasons[rkey] = cols.reasons.get(rkey, 0) + 1
                elif rec[OUTCOME] == "timeout" and (rec.get(VERIFIER) or {}).get("passed"):
                    cols.late_passes += 1
            except json.JSONDecodeError as e:
                raise ResultsError(f"{path}:{number}: not a JSON record ({e.msg} at column {e.colno})",
                                   "the file was edited or damaged; delete that line and "
                                   "`harness sweep --resume` re-runs the trial") from None
            except (KeyError, TypeError, AttributeError) as e:
                fix = "delete that line and `harness sweep --resume` re-runs the trial"
                raise ResultsError(_bad_record_message(path, number, raw, e), fix) from None
    return cols


def _bad_record_message(path: Path, number: int, raw: bytes, e: Exception) -> str:
    try:
        rec = json.loads(raw)
    except json.JSONDecodeError:
        rec = None
    if not isinstance(rec, dict):
        return f"{path}:{number}: a trial record must be a JSON object"
    if SCHEMA_KEY not in rec:
        return f"{path}:{number}: trial record lacks {SCHEMA_KEY} (its version)"
    if (isinstance(e, KeyError) and rec.get(OUTCOME) in OUTCOMES) or OUTCOME not in rec:
        missing = [k for k in REQUIRED_REPORT_KEYS if k not in rec]
        return f"{path}:{number}: trial record lacks {', '.join(missing) or e}"
    return f"{path}:{number}: unknown outcome {rec.get(OUTCOME)!r} (expected one of {', '.join(OUTCOMES)})"


def _same_multipliers(seen: dict[str, tuple[Any, ...]], profile: str, mult: tuple[Any, ...],
                      path: Path, number: int) -> None:
    old = seen.setdefault(profile, mult)
    if old != mult:
        where = f"{path}:{number}" if number >= 0 else str(path)
        raise ResultsError(f"{where}: profile {profile!r} has multipliers {mult}, elsewhere {old}",
                           "a profile name must mean one set of limits; rename one of them")


def _epoch(value: Any) -> float:
    if not isinstance(value, str):
        return float("nan")
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return float("nan")


def _assemble(dirs: list[Path], manifests: list[Manifest], parts: list[Columns],
              warnings: list[str]) -> Sweep:
    seen: dict[str, int] = {}
    mults: dict[str, tuple[Any, ...]] = {}
    reasons: dict[str, dict[str, int]] = {}
    for i, c in enumerate(parts):
        before = len(seen)
        seen.update(dict.fromkeys(c.trial_id, i))
        if len(seen) - before != len(c.trial_id):
            _duplicate(dirs, parts, i)
        for k, v in c.multipliers.items():
            _same_multipliers(mults, k, v, dirs[i] / store.TRIALS_FILE, -1)
        for (p, r), n in c.reasons.items():
            reasons.setdefault(p, {})[r] = reasons.setdefault(p, {}).get(r, 0) + n
    late = sum(c.late_passes for c in parts)
    if late:  # a timeout counts as a task failure even when the work passes (README, "Outcome")
        warnings.append(f"{late} trial(s) timed out with work that passes the verifier: counted as "
                        "timeouts, since the time limit is part of the configuration")
    profile_names = _profile_order(manifests, mults)
    tasks = [t for c in parts for t in c.task]
    task_names, task_codes = _intern(tasks)
    host_names, host_codes = _intern([h for c in parts for h in c.host])
    pindex = {p: i for i, p in enumerate(profile_names)}
    table = TrialTable(
        task=task_codes.astype(np.int32),
        profile=np.fromiter((pindex[p] for c in parts for p in c.profile), dtype=np.int32, count=len(tasks)),
        category=np.frombuffer(b"".join(bytes(c.category) for c in parts), dtype=np.int8).copy(),
        started=np.array([s for c in parts for s in c.started], dtype=float),
        host=host_codes.astype(np.int32),
        task_names=[str(t) for t in task_names], profile_names=profile_names,
        host_names=[str(h) for h in host_names],
        memory_multiplier=[_num(mults[p][0]) for p in profile_names],
        cpu_multiplier=[_num(mults[p][1]) for p in profile_names],
        timeout_multiplier=[_num(mults[p][2]) for p in profile_names],
    )
    return Sweep(table, dirs, manifests, reasons, warnings)


def _intern(values: list[str]) -> tuple[list[str], np.ndarray]:
    """(sorted distinct names, code of each value): a dict lookup per value, not an object sort."""
    names = sorted(set(values))
    index = {n: i for i, n in enumerate(names)}
    return names, np.fromiter(map(index.__getitem__, values), dtype=np.int64, count=len(values))


def _duplicate(dirs: list[Path], parts: list[Columns], i: int) -> None:
    where: dict[str, int] = {}
    for j, c in enumerate(parts[: i + 1]):
        for t in c.trial_id:
            if t in where:
                a, b = dirs[where[t]], dirs[j]
                raise ResultsError(f"trial {t!r} is recorded twice ({a} and {b})",
                                   "give each shard once; a result file must not repeat a trial")
            where[t] = j


def _profile_order(manifests: list[Manifest], mults: dict[str, tuple[Any, ...]]) -> list[str]:
    order: list[str] = []
    for m in manifests:
        for p in m.profiles:
            if p.name in mults and p.name not in order:
                order.append(p.name)
    rest = sorted((p for p in mults if p not in order),
                  key=lambda p: (_num(mults[p][0]) is None, _num(mults[p][0]) or 0.0, p))
    return order + rest


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None
