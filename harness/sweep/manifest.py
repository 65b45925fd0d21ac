"""The manifest of a new sweep, built from its plan (the format is `harness.schema.manifest`)."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime
from typing import Any

from harness import __version__
from harness.cgroup.workspace import safe_name
from harness.limits import LimitSettings
from harness.results.host import host_metadata
from harness.schema.manifest import BudgetInfo, Manifest, SuiteInfo, TaskSpecInfo
from harness.suite.parse import load_suite
from harness.sweep.prepare import SweepPlan


def cgroup_files(plan: SweepPlan) -> dict[str, dict[str, dict[str, str]]]:
    """Per profile, per distinct task spec: the cgroup files and values the agent phase gets."""
    out: dict[str, dict[str, dict[str, str]]] = {}
    for p in plan.settings.profiles:
        per_spec = out.setdefault(p.name, {})
        for t in plan.suite.tasks:
            key = f"{t.memory_bytes >> 20}M/{t.cpus:g}cpu"
            per_spec.setdefault(key, p.resolve(t).files())
    return out


def sweep_id(plan: SweepPlan) -> str:
    """Unique per sweep; the same for every shard of one plan (suite, profiles, repeats,
    seed, agent, spec overrides), so that shards run on several machines are read as one sweep."""
    name = safe_name(plan.suite.name, 40)
    if plan.settings.shard is None:
        return f"{name}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
    key = json.dumps([plan.suite.checksum, [p.to_json() for p in plan.settings.profiles],
                      plan.settings.repeats, plan.settings.seed, plan.settings.agent,
                      plan.settings.spec_overrides], sort_keys=True)
    return f"{name}-seed{plan.settings.seed}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def new_manifest(plan: SweepPlan, backend: str, budget: BudgetInfo) -> Manifest:
    host = host_metadata(backend)
    s = plan.settings
    return Manifest(
        sweep_id=sweep_id(plan), harness_version=__version__, python_version=host.python_version,
        suite=SuiteInfo(name=plan.suite.name, path=str(plan.suite.path), checksum=plan.suite.checksum,
                        tasks=list(plan.suite.names),
                        specs={t.name: TaskSpecInfo(t.cpus, t.memory_bytes, t.agent_timeout_sec,
                                                    t.verifier_timeout_sec) for t in plan.suite.tasks}),
        settings=s, profiles=s.profiles, seed=s.seed, repeats=s.repeats, concurrency=s.concurrency,
        shard=s.shard, agent=s.agent, backend=backend, host=host, budget=budget,
        cgroup_files=cgroup_files(plan),
        cgroup_fixed={"memory.swap.max": "0", "memory.oom.group": "1",
                      "pids.max": str(LimitSettings().pids_max),
                      "cpu.weight": "Kubernetes mapping of declared CPUs",
                      "verifier": "own cgroup, no memory or CPU limit"},
        n_trials_planned=len(plan.trials), started_at=datetime.now(UTC).isoformat(),
        spec_overrides=_overrides_doc(plan))


def _overrides_doc(plan: SweepPlan) -> dict[str, dict[str, Any]] | None:
    """Per overridden task: the spec in force and the one task.toml declares."""
    s = plan.settings
    if not s.spec_overrides:
        return None
    declared = {t.name: t for t in load_suite(s.suite, None if s.tasks is None else list(s.tasks)).tasks}
    return {t.name: {"memory_bytes": t.memory_bytes, "cpus": t.cpus,
                     "declared_memory_bytes": declared[t.name].memory_bytes,
                     "declared_cpus": declared[t.name].cpus}
            for t in plan.suite.tasks if t.name in s.spec_overrides}


def session_hint(manifest: Manifest) -> str:
    """The prefix of this sweep's session cgroups (a resume finds earlier ones by it)."""
    return safe_name(f"sweep-{manifest.sweep_id}", 60)
