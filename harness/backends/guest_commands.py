"""The harness command lines a guest runs, built from typed settings in this one place.

Inside a user-mode Linux guest the harness runs as ``python -m harness ...`` with
``--backend native``; a sweep's settings travel whole, as the manifest stores them
(``--settings-json``), so the guest runs exactly the sweep the host was asked for.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.limits import LimitSettings
from harness.schema.settings import SweepSettings

SETTINGS_JSON_OPTION = "--settings-json"


def harness_command(argv: list[str]) -> list[str]:
    """``argv`` as a command: this Python running the harness (the guest sees the same paths)."""
    return [sys.executable, "-m", "harness", *argv]


def _common(cgroup_root: Path | None, as_json: bool) -> list[str]:
    out = ["--backend", "native"]
    if cgroup_root is not None:
        out += ["--cgroup-root", str(cgroup_root)]
    return out + (["--json"] if as_json else [])


def sweep_argv(settings: SweepSettings, out_dir: Path, *, cgroup_root: Path | None = None,
               as_json: bool = False) -> list[str]:
    return ["sweep", SETTINGS_JSON_OPTION, json.dumps(settings.to_json(), sort_keys=True),
            "--out", str(out_dir), *_common(cgroup_root, as_json)]


def resume_argv(out_dir: Path, *, cgroup_root: Path | None = None, as_json: bool = False) -> list[str]:
    return ["sweep", "--resume", str(out_dir), *_common(cgroup_root, as_json)]


def _amount(value: float | None) -> str:
    return "max" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def run_argv(command: Sequence[str], limits: LimitSettings, *, timeout: float | None = None,
             grace: float = 5.0, cgroup_root: Path | None = None, as_json: bool = False,
             record: Path | None = None, timeline: Path | None = None) -> list[str]:
    """`harness run` with every limit given explicitly, as absolute values."""
    argv = ["run", "--memory-guarantee", str(limits.memory_guarantee_bytes or 0),
            "--protection", limits.protection, "--memory-limit", _amount(limits.memory_max_bytes),
            "--swap", _amount(limits.swap_max_bytes),
            "--oom-group" if limits.oom_group else "--no-oom-group",
            "--cpu-limit", _amount(limits.cpu_max_cpus), "--pids-max", _amount(limits.pids_max),
            "--grace", repr(grace)]
    if limits.memory_high_bytes is not None:
        argv += ["--memory-high", str(limits.memory_high_bytes)]
    if limits.declared_cpus is not None:
        argv += ["--cpus", repr(limits.declared_cpus)]
    if limits.declared_memory_bytes is not None:
        argv += ["--memory", str(limits.declared_memory_bytes)]
    if timeout is not None:
        argv += ["--timeout", repr(timeout)]
    if record is not None:
        argv += ["--record", str(record)]
    if timeline is not None:
        argv += ["--timeline", str(timeline)]
    return [*argv, *_common(cgroup_root, as_json), "--", *command]
