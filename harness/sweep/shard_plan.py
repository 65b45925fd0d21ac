"""A sharded sweep's plan, fixed once in a shared directory before any shard runs.

``harness shard prepare`` writes ``PREFIX/plan.json``: the suite (path and checksum), the
seed, the number of shards, the sweep's settings (as a manifest stores them) and the
harness that prepared it. Every ``harness shard run PREFIX I`` reads it and runs shard I
from those typed settings, so a shard resubmitted alone, or run with other scheduler ids
(array ids from 0, a new job id), follows the same plan; a changed suite or another
harness version is refused instead of quietly splitting another plan.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import harness
from harness import __version__
from harness.errors import HarnessError, ResultsError, UsageError
from harness.results import store
from harness.schema.settings import SweepSettings

PLAN_FILE = "plan.json"
PLAN_SCHEMA = 1
LOG_DIR = "logs"
# Options a plan fixes itself (or that belong to one node, not to the plan).
_OWN_OPTIONS = ("--out", "--resume", "--shard", "--seed", "--backend", "--cgroup-root", "--json",
                "--settings-json")
ShardState = Literal["missing", "started", "finished"]


def harness_path() -> str:
    """Where this harness is installed (the directory of the ``harness`` package)."""
    return str(Path(harness.__file__).resolve().parent)


@dataclass(frozen=True)
class ShardPlan:
    suite: str
    suite_checksum: str
    seed: int
    shards: int
    settings: SweepSettings  # of the whole plan: no shard
    harness_version: str
    harness_path: str
    created_at: str
    schema: int = PLAN_SCHEMA

    def to_dict(self) -> dict[str, Any]:
        return {**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)},
                "settings": self.settings.to_json()}

    def shard_dir(self, prefix: Path, i: int) -> Path:
        return prefix / f"shard-{i}"


def prepare(suite: Path, prefix: Path, shards: int, seed: int | None, options: list[str]) -> ShardPlan:
    """Check the sweep as every shard will run it and write ``prefix/plan.json``."""
    from harness.suite.parse import load_suite

    if shards < 1:
        raise UsageError(f"--shards {shards}: must be at least 1", "give --shards 1 or more")
    for opt in options:
        name = opt.split("=", 1)[0]
        if name in _OWN_OPTIONS:
            raise UsageError(f"{name} among the sweep options: the plan sets it for each shard",
                             "drop it (give --seed to `harness shard prepare` itself)")
    path = prefix / PLAN_FILE
    if path.exists():
        raise UsageError(f"{prefix} already holds a plan ({path})",
                         "run its shards with `harness shard run`, or choose another prefix")
    if prefix.exists() and any(p.name != LOG_DIR for p in prefix.iterdir()):
        raise UsageError(f"{prefix} is not empty", "give a new or empty directory")
    suite = suite.resolve()
    seed = secrets.randbelow(2**31) if seed is None else seed
    settings = _parse_options(suite, seed, options)
    tasks = list(settings.tasks) if settings.tasks else None
    plan = ShardPlan(suite=str(suite), suite_checksum=load_suite(suite, tasks).checksum,
                     seed=seed, shards=shards, settings=settings, harness_version=__version__,
                     harness_path=harness_path(), created_at=datetime.now(UTC).isoformat())
    (prefix / LOG_DIR).mkdir(parents=True, exist_ok=True)
    store.write_json_atomic(path, plan.to_dict())
    return plan


def _parse_options(suite: Path, seed: int, options: list[str]) -> SweepSettings:
    """The sweep's settings from `harness sweep` options, parsed and checked once, as a
    shard would be (without its shard: `shard_settings` adds it)."""
    import click

    from harness.cli.environment_options import pick
    from harness.cli.sweep_cmd import _extras, _settings, sweep

    argv = [str(suite), "--out", "unused", "--seed", str(seed), *options]
    try:
        ctx = sweep.make_context("sweep", argv)
    except click.ClickException as e:
        raise UsageError(f"sweep options {' '.join(options)!r}: {e.format_message()}",
                         "see harness sweep --help") from None
    p = ctx.params
    settings = _settings(suite, Path("unused"), p["profiles"], p["cpu_profiles"], p["timeout_profiles"],
                         p["sweep_file"], p["repeats"], seed, p["concurrency"], p["agent"], p["tasks"], None,
                         p["keep_workdirs"], pick(dict(p)))
    return _extras(settings, p["spec_overrides"], p["sample_interval"])


def load(prefix: Path) -> ShardPlan:
    path = prefix / PLAN_FILE
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"no plan at {path}",
                         f"prepare it once before any shard runs: harness shard prepare SUITE {prefix} "
                         "--shards N [sweep options]") from None
    except (OSError, ValueError) as e:
        raise ResultsError(f"{path} is not a shard plan ({e})",
                           "prepare a new one in another directory") from None
    if not isinstance(doc, dict) or doc.get("schema") != PLAN_SCHEMA:
        found = doc.get("schema") if isinstance(doc, dict) else None
        raise ResultsError(f"{path}: plan schema {found}, this harness reads {PLAN_SCHEMA}",
                           "run the shards with the harness that prepared the plan")
    try:
        settings = SweepSettings.from_json(doc["settings"], f"{path}: settings")
        return ShardPlan(**{**doc, "settings": settings})
    except HarnessError as e:
        raise ResultsError(e.message, "prepare a new plan in another directory") from None
    except (KeyError, TypeError) as e:
        raise ResultsError(f"{path} is not a shard plan ({e})",
                           "prepare a new one in another directory") from None


def check_shard(plan: ShardPlan, i: int) -> None:
    """Refuse a shard number outside the plan, and another harness version than the plan's."""
    if not 1 <= i <= plan.shards:
        raise UsageError(f"shard {i} is not in this plan: its shards are 1 to {plan.shards}",
                         f"run shards 1..{plan.shards} (with Slurm: --array=1-{plan.shards})")
    if plan.harness_version != __version__:
        raise UsageError(f"the plan was prepared by harness {plan.harness_version} ({plan.harness_path}); "
                         f"this is harness {__version__} ({harness_path()})",
                         "run every shard with the harness that prepared the plan (set HARNESS)")


def shard_settings(plan: ShardPlan, i: int) -> SweepSettings:
    """The settings of a new sweep of shard ``i``: the plan's, with ``shard`` i/N.

    Refuses what `check_shard` does, and a suite that changed since the plan was fixed.
    """
    from harness.suite.parse import load_suite

    check_shard(plan, i)
    tasks = list(plan.settings.tasks) if plan.settings.tasks else None
    if load_suite(Path(plan.suite), tasks).checksum != plan.suite_checksum:
        raise UsageError(f"the suite at {plan.suite} changed since the plan was fixed (its checksum differs)",
                         "restore the suite as it was, or prepare a new plan in another directory")
    return dataclasses.replace(plan.settings, shard=f"{i}/{plan.shards}")


def shard_state(shard_dir: Path) -> ShardState:
    """``finished``, ``started`` (resumable) or ``missing``."""
    dirs = _manifests(shard_dir)
    if not dirs:
        return "missing"
    return "finished" if all(store.read_manifest(d).finished_at for d in dirs) else "started"


def status(plan: ShardPlan, prefix: Path) -> dict[int, ShardState]:
    """Per shard: ``finished``, ``started`` (resumable) or ``missing``."""
    return {i: shard_state(plan.shard_dir(prefix, i)) for i in range(1, plan.shards + 1)}


def _manifests(shard_dir: Path) -> list[Path]:
    """The result directories of a shard: itself, or the parts it was split into (one per
    user-mode Linux guest, see backends.uml_parts)."""
    from harness.backends.uml_parts import existing_parts

    if (shard_dir / store.MANIFEST_FILE).exists():
        return [shard_dir]
    return existing_parts(shard_dir)
