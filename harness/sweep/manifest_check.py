"""Checking a manifest read for ``--resume``: a hand-edited or truncated one is refused with
the field that is wrong, never a KeyError or TypeError mid-way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import UsageError

# settings field -> (accepted types, may be None); the types of SweepSettings.
_SETTINGS_TYPES: dict[str, tuple[tuple[type, ...], bool]] = {
    "suite": ((str,), False),
    "profiles": ((list,), False),
    "repeats": ((int,), False),
    "seed": ((int,), False),
    "concurrency": ((int,), False),
    "agent": ((str,), False),
    "tasks": ((list,), True),
    "shard": ((str,), True),
    "keep_workdirs": ((bool,), False),
    "pass_env": ((list,), False),
    "log_cap_bytes": ((int,), False),
    "agent_user": ((str,), True),
    "protect_limits": ((bool,), False),
}
# Fields added after schema 1 was first written: old manifests lack them (defaults apply).
OPTIONAL_SETTINGS = ("pass_env", "log_cap_bytes", "agent_user", "protect_limits")


def check_manifest(manifest: dict[str, Any], where: Path) -> None:
    """Raise a UsageError naming every field of ``manifest`` that --resume cannot use."""
    problems: list[str] = []
    for key, kind in (("sweep_id", str), ("suite", dict), ("settings", dict), ("host", dict)):
        if not isinstance(manifest.get(key), kind):
            problems.append(f"{key}: missing or not a {kind.__name__}")
    suite = manifest.get("suite")
    if isinstance(suite, dict) and not isinstance(suite.get("checksum"), str):
        problems.append("suite.checksum: missing or not a string")
    host = manifest.get("host")
    if isinstance(host, dict) and not isinstance(host.get("hostname"), str):
        problems.append("host.hostname: missing or not a string")
    settings = manifest.get("settings")
    if isinstance(settings, dict):
        problems += settings_problems(settings)
    if problems:
        raise UsageError(f"{where}: cannot resume from this manifest: " + "; ".join(problems),
                         "restore manifest.json as `harness sweep` wrote it, or start a new sweep")


def settings_problems(settings: dict[str, Any]) -> list[str]:
    problems = []
    for key, (types, nullable) in _SETTINGS_TYPES.items():
        if key not in settings:
            if key not in OPTIONAL_SETTINGS:
                problems.append(f"settings.{key}: missing")
            continue
        value = settings[key]
        if value is None and nullable:
            continue
        # bool is an int to Python; a count of True is still wrong.
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            problems.append(f"settings.{key}: {value!r} is not a {'/'.join(t.__name__ for t in types)}")
    for key in ("repeats", "concurrency"):
        value = settings.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value < 1:
            problems.append(f"settings.{key}: {value} is below 1")
    profiles = settings.get("profiles")
    if isinstance(profiles, list) and not all(isinstance(p, dict) for p in profiles):
        problems.append("settings.profiles: every profile must be an object")
    unknown = set(settings) - set(_SETTINGS_TYPES)
    if unknown:
        problems.append(f"settings: unknown field(s) {', '.join(sorted(unknown))}")
    return problems
