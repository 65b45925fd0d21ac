"""Checks that a file written by an earlier harness reads through the schema unchanged."""

from __future__ import annotations

import dataclasses

from harness.schema.manifest import Manifest, SuiteInfo
from harness.schema.settings import SweepSettings

# Fields added after the fixtures were written (issue 8, harness.environments), each with a
# default that says "host trial": older files read as host sweeps; nothing else changed.
ADDED_RECORD = {"environment", "container", "image", "image_id", "workdir", "agent_on", "verifier_limits",
                "network", "container_cgroup", "container_limits", "container_protection",
                "runtime_rewrote_limits", "cleanup_error"}
ADDED_VERIFIER = {"reward_source"}
ADDED_MANIFEST = {"environment", "agent_on", "verifier_limits", "pull", "environments", "images",
                  "image_failures", "podman_version", "memory_recursiveprot"}
ADDED_SETTINGS = {"environment", "agent_on", "verifier_limits", "pull", "skip_broken_images"}
# (issue 11) tamper checks, capped logs, the agent's environment, --protect-limits, and
# the suite checked again at the end: older files read as "nothing seen, defaults".
ADDED_RECORD |= {"limits_changed", "escaped_processes_killed", "logs", "env_names"}
ADDED_VERIFIER |= {"passed"}
ADDED_SETTINGS |= {"pass_env", "log_cap_bytes", "agent_user", "protect_limits"}
ADDED_SUITE = {"changed_during_sweep"}


def _default(cls: type, name: str) -> object:
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    value = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    return list(value) if isinstance(value, tuple) else value  # as JSON holds it


def assert_read_unchanged(written: dict[str, object], original: dict[str, object], cls: type,
                          added: set[str]) -> None:
    """``written`` (an old file read and written again) keeps every key and value of
    ``original`` and adds exactly the newer fields, at their defaults."""
    assert set(written) - set(original) == added
    assert {k: written[k] for k in original} == original
    assert {k: written[k] for k in added} == {k: _default(cls, k) for k in added}


def assert_manifest_read_unchanged(written: dict[str, object], original: dict[str, object]) -> None:
    """The same for a manifest, whose ``settings`` gained fields too."""
    settings, old_settings = written["settings"], original["settings"]
    assert isinstance(settings, dict) and isinstance(old_settings, dict)
    assert_read_unchanged(settings, old_settings, SweepSettings, ADDED_SETTINGS)
    suite, old_suite = written["suite"], original["suite"]
    assert isinstance(suite, dict) and isinstance(old_suite, dict)
    assert_read_unchanged(suite, old_suite, SuiteInfo, ADDED_SUITE)
    assert_read_unchanged({k: v for k, v in written.items() if k not in ("settings", "suite")},
                          {k: v for k, v in original.items() if k not in ("settings", "suite")}, Manifest,
                          ADDED_MANIFEST)
