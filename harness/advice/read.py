"""Reading trial records for `harness show` and `harness advise`: the one place they touch result files.

The report's loader keeps only what the report needs; advice needs each trial's peak,
CPU and limits, so the records are read whole here, through `harness.results.store`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ResultsError
from harness.results import store
from harness.runner.timeline import FILE_NAME as TIMELINE_FILE
from harness.schema.manifest import Manifest
from harness.sweep.task_trial import trial_paths


@dataclass(frozen=True)
class Trials:
    """Every trial record of some result directories, each with the directory it came from."""

    records: list[dict[str, Any]]
    dirs: list[Path]  # per record
    manifests: dict[Path, Manifest]


def result_dirs(dirs: list[Path]) -> list[Path]:
    """Each directory, or its shard subdirectories where it has no manifest (as `harness demo` writes)."""
    out: list[Path] = []
    for d in dirs:
        if not d.is_dir():
            raise ResultsError(f"{d}: {'not a directory' if d.exists() else 'no such directory'}",
                               "give a result directory that `harness sweep` or `harness demo` wrote")
        shards = sorted(p.parent for p in d.glob(f"*/{store.MANIFEST_FILE}"))
        out.extend(shards if not (d / store.MANIFEST_FILE).exists() and shards else [d])
    return out


def read_trials(dirs: list[Path]) -> Trials:
    """The records of ``dirs`` (shards or whole sweeps); ResultsError when one holds none."""
    if not dirs:
        raise ResultsError("no result directory given", "give one or more directories `harness sweep` wrote")
    records: list[dict[str, Any]] = []
    where: list[Path] = []
    manifests: dict[Path, Manifest] = {}
    for d in result_dirs(dirs):
        manifests[d] = store.read_manifest(d)
        got = store.read_trials(d / store.TRIALS_FILE).records
        records.extend(got)
        where.extend([d] * len(got))
    if not records:
        raise ResultsError(f"{', '.join(map(str, dirs))}: no trial records",
                           "run or resume the sweep first (`harness sweep --resume DIR`)")
    return Trials(records, where, manifests)


def find_trial(trials: Trials, name: str) -> tuple[dict[str, Any], Path]:
    """A trial by its id (``task/profile/repeat``) or log directory name (``task__profile__repeat``)."""
    for rec, d in zip(trials.records, trials.dirs, strict=True):
        tid = str(rec.get("trial_id"))
        if name in (tid, tid.replace("/", "__")):
            return rec, d
    task = name.replace("__", "/").split("/")[0]
    near = [str(r.get("trial_id")) for r in trials.records if r.get("task") == task][:8]
    raise ResultsError(f"no trial {name!r} in {', '.join(sorted({str(d) for d in trials.dirs}))}",
                       "give a trial id as task/profile/repeat" + (f", e.g. {', '.join(near)}" if near else
                                                                  "; `harness report` lists the tasks"))


def timeline_path(result_dir: Path, trial_id: str) -> Path:
    return trial_paths(result_dir, trial_id)[1] / TIMELINE_FILE
