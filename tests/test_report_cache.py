"""The report's columnar cache: used only while it describes the very trials.jsonl it came
from; any change to the file, a damaged cache or an unwritable directory falls back to the
JSON, which stays the source of truth."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from harness.report import column_cache
from harness.report.load import load_dirs
from harness.results.store import TRIALS_FILE
from tests.helpers_results import simulate, trial, write_sweep


def _sweep(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    return write_sweep(tmp_path / "run", simulate(rng, 12, 2, p_infra={"1x": 0.2}))


def _same(a, b) -> None:  # type: ignore[no-untyped-def]
    for key in ("task", "profile", "category", "started", "host"):
        assert np.array_equal(getattr(a.table, key), getattr(b.table, key), equal_nan=key == "started"), key
    assert a.table.task_names == b.table.task_names
    assert a.table.profile_names == b.table.profile_names
    assert a.infra_reasons == b.infra_reasons


def test_second_load_comes_from_the_cache_and_equals_the_parse(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    d = _sweep(tmp_path)
    first = load_dirs([d])
    assert (d / column_cache.CACHE_FILE).exists()

    def no_parse(*a, **k):  # type: ignore[no-untyped-def]
        raise AssertionError("parsed the JSON although a fresh cache exists")

    monkeypatch.setattr("harness.report.load._read_file", no_parse)
    _same(first, load_dirs([d]))


def test_an_appended_trial_is_seen(tmp_path: Path) -> None:
    d = _sweep(tmp_path)
    before = load_dirs([d])
    with open(d / TRIALS_FILE, "a") as f:
        f.write(json.dumps(trial("task-new", "1x", 1.0, 0, "passed")) + "\n")
    after = load_dirs([d])
    assert len(after.table) == len(before.table) + 1
    assert "task-new" in after.table.task_names


def test_a_same_size_edit_in_place_is_seen(tmp_path: Path) -> None:
    """'passed' -> 'failed' keeps the size; the modification time gives it away."""
    d = _sweep(tmp_path)
    path = d / TRIALS_FILE
    before = load_dirs([d])
    lines = path.read_text().splitlines(keepends=True)
    i = next(i for i, line in enumerate(lines) if json.loads(line)["outcome"] == "passed")
    rec = json.loads(lines[i])
    rec["outcome"] = "failed"  # as long as "passed"
    lines[i] = json.dumps(rec, separators=(",", ":"), sort_keys=True) + "\n"
    st = path.stat()
    path.write_text("".join(lines))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert path.stat().st_size == st.st_size
    after = load_dirs([d])
    assert int((after.table.category == 0).sum()) == int((before.table.category == 0).sum()) - 1


def test_a_damaged_cache_is_ignored(tmp_path: Path) -> None:
    d = _sweep(tmp_path)
    first = load_dirs([d])
    (d / column_cache.CACHE_FILE).write_bytes(b"not a zip file")
    _same(first, load_dirs([d]))


def test_a_cache_that_cannot_be_written_changes_nothing(tmp_path: Path) -> None:
    """A directory in the cache's place: neither read nor replaced, and no temporary left."""
    d = _sweep(tmp_path)
    blocker = d / column_cache.CACHE_FILE
    blocker.mkdir()
    (blocker / "x").write_text("x")
    first = load_dirs([d])
    _same(first, load_dirs([d]))
    names = sorted(p.name for p in d.iterdir())
    assert names == sorted(["manifest.json", TRIALS_FILE, column_cache.CACHE_FILE])


def test_a_big_finished_sweep_indexes_itself_for_its_first_report(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # A sweep above the threshold writes the columnar copy of each shard when it ends, so the
    # first report reads no JSON; below it nothing is written (and numpy is not imported).
    from harness.report.warm import index_for_report

    rng = np.random.default_rng(4)
    out = tmp_path / "out"
    records = simulate(rng, 12, 2)
    for j in range(2):  # the layout a sweep split over guests writes: OUT/part-J, tasks dealt out
        part = [r for r in records if int(r["task"][-3:]) % 2 == j]
        write_sweep(out / f"part-{j}", part, shard=f"{j + 1}/2")
    size = sum((out / f"part-{j}" / TRIALS_FILE).stat().st_size for j in range(2))
    assert not index_for_report(out, min_bytes=size + 1)
    assert not list(out.glob(f"*/{column_cache.CACHE_FILE}"))
    assert index_for_report(out, min_bytes=size)
    assert len(list(out.glob(f"*/{column_cache.CACHE_FILE}"))) == 2

    def no_parse(*a, **k):  # type: ignore[no-untyped-def]
        raise AssertionError("the first report parsed the JSON although the sweep indexed it")

    monkeypatch.setattr("harness.report.load._read_file", no_parse)
    assert len(load_dirs([out]).table.task) == len(records)
