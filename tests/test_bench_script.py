"""scripts/bench.py's bookkeeping: what it says about its cases, peers and targets (no timing)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from harness.environments import uml_store

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_script", REPO / "scripts" / "bench.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_script"] = mod
    spec.loader.exec_module(mod)
    return mod


def _case(ms: float) -> dict[str, float]:
    return {"median_ms": ms, "min_ms": ms, "spread_ms": 0.0, "n": 3}


def _doc(bench: ModuleType) -> dict[str, Any]:
    kernel = {
        "cases": {bench.HAND: _case(20.0), bench.HAND_SH: _case(32.0), bench.IN_PROCESS: _case(40.0),
                  bench.PYTHON: _case(300.0), bench.CLI: _case(450.0)},
        "skipped": {"BenchExec runexec": "runexec exited 0: no cpu.pressure"},
        "oom_latency": {"skipped": "no /dev/kmsg"},
        "watcher_cpu": {"seconds": 10.0, "rounds": 2, "base_cpu_seconds": 0.01,
                        "percent_of_core": {"idle, without timeline": 0.1, "moving, with timeline": 0.7},
                        "timeline_files": {"moving": {"samples": 40, "bytes": 2000}}, "cpu_seconds": {}},
    }
    return {"machine": "test", "backend": "uml", "kernel": kernel, "wall_seconds": 1.0,
            "load_average": {"start": [2.5, 2.0, 1.0], "end": [3.0, 2.0, 1.0]},
            "report": {"sizes": {}, "fit": None},
            "startup": {bench.PYTHON: _case(30.0), "`harness run` imports": _case(100.0)}}


def test_the_table_splits_the_trial_into_floor_and_harness(bench: ModuleType) -> None:
    doc = _doc(bench)
    doc["targets"] = bench.targets(doc)
    by_name = {t["name"]: t for t in doc["targets"]}
    assert by_name["trial_vs_floor"]["observed"] == pytest.approx(2.0)
    assert by_name["trial_vs_floor"]["met"] is False
    # the watcher's target is the worst of its four cases, not the kindest
    assert by_name["watcher_cpu_percent"]["observed"] == pytest.approx(0.7)
    assert by_name["watcher_cpu_percent"]["met"] is False
    assert by_name["oom_latency_ms"]["met"] is None  # skipped, so not measured: never "met"
    assert by_name["startup_overhead_ms"]["observed"] == pytest.approx(70.0)
    text = bench.render(doc)
    assert "by-hand floor 20.00 ms + the harness's own code 20.00 ms (2.00x)" in text
    assert "trampoline (what the harness paid per trial before its spawn server) adds 12.00 ms" in text
    assert "skipped BenchExec runexec: runexec exited 0: no cpu.pressure" in text
    assert "load average 2.50 at the start, 3.00 at the end" in text


def test_a_missing_peer_says_how_to_get_it(bench: ModuleType, monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    why = bench._runexec(str(tmp_path / "nothing-here"))
    assert isinstance(why, str) and "pip install --target" in why
    (tmp_path / "pkg" / "bin").mkdir(parents=True)
    runexec = tmp_path / "pkg" / "bin" / "runexec"
    runexec.write_text("")
    assert bench._runexec(str(tmp_path / "pkg")) == [sys.executable, str(runexec)]
    monkeypatch.setattr(uml_store, "cache_dir", lambda: tmp_path)
    disks, why = bench.guest_disks(True)
    assert disks == [] and why is not None and "python -m harness.environments.uml_store" in why
    assert bench.guest_disks(False) == ([], "not asked for (--no-peers)")


def test_a_tool_error_is_quoted_from_its_own_output(bench: ModuleType) -> None:
    out = b"INFO - starting\nCRITICAL - Error while starting '/bin/true': no cpu.pressure\nINFO - done\n"
    assert bench._last_error(out) == "CRITICAL - Error while starting '/bin/true': no cpu.pressure"
    assert bench._last_error(b"just this\n") == "just this"
    assert bench._last_error(b"") == ""


def test_the_existing_store_is_found_never_built(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(uml_store, "cache_dir", lambda: tmp_path)
    assert uml_store.existing_base_store() is None  # no root filesystem yet
    rootfs = tmp_path / f"rootfs-{uml_store.SUITE}.tar"
    rootfs.write_bytes(b"tar")
    assert uml_store.existing_base_store() is None  # no store for it yet
    assert not list(tmp_path.glob("store-*"))  # and none was started
    store = uml_store._store_path(rootfs)
    store.write_bytes(b"ext4")
    assert uml_store.existing_base_store() == store == uml_store.base_store(rootfs)
