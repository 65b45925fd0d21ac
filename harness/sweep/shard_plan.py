"""A sharded sweep's plan, fixed once in a shared directory before any shard runs.

``harness shard prepare`` writes ``PREFIX/plan.json``: the suite (path and checksum), the
seed, the number of shards, the sweep options and the harness that prepared it. Every
``harness shard run PREFIX I`` reads it, so a shard resubmitted alone, or run with other
scheduler ids (array ids from 0, a new job id), follows the same plan; a changed suite
or another harness version is refused instead of quietly splitting another plan.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import harness
from harness import __version__
from harness.errors import ResultsError, UsageError
from harness.results import store

PLAN_FILE = "plan.json"
PLAN_SCHEMA = 1
LOG_DIR = "logs"
# Options a plan fixes itself (or that belong to one node, not to the plan).
_OWN_OPTIONS = ("--out", "--resume", "--shard", "--seed", "--backend", "--cgroup-root", "--json")


def harness_path() -> str:
    """Where this harness is installed (the directory of the ``harness`` package)."""
    return str(Path(harness.__file__).resolve().parent)


@dataclass(frozen=True)
class ShardPlan:
    suite: str
    suite_checksum: str
    seed: int
    shards: int
    options: tuple[str, ...]
    harness_version: str
    harness_path: str
    created_at: str
    schema: int = PLAN_SCHEMA

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["options"] = list(self.options)
        return d

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
    settings = _check_options(suite, seed, shards, options)
    plan = ShardPlan(suite=str(suite), suite_checksum=load_suite(suite, settings.tasks).checksum,
                     seed=seed, shards=shards, options=tuple(options), harness_version=__version__,
                     harness_path=harness_path(), created_at=datetime.now(UTC).isoformat())
    (prefix / LOG_DIR).mkdir(parents=True, exist_ok=True)
    store.write_json_atomic(path, plan.to_dict())
    return plan


def _check_options(suite: Path, seed: int, shards: int, options: list[str]) -> Any:
    """The sweep's settings as shard 1 would parse them: bad options fail here, not N times."""
    import click

    from harness.cli.sweep_cmd import _settings, sweep

    argv = [str(suite), "--out", "unused", "--shard", f"1/{shards}", "--seed", str(seed), *options]
    try:
        ctx = sweep.make_context("sweep", argv)
    except click.ClickException as e:
        raise UsageError(f"sweep options {' '.join(options)!r}: {e.format_message()}",
                         "see harness sweep --help") from None
    p = ctx.params
    return _settings(suite, Path("unused"), p["profiles"], p["cpu_profiles"], p["sweep_file"],
                     p["repeats"], seed, p["concurrency"], p["agent"], p["tasks"], f"1/{shards}",
                     p["keep_workdirs"])


def load(prefix: Path) -> ShardPlan:
    path = prefix / PLAN_FILE
    try:
        doc = json.loads(path.read_text())
        plan = ShardPlan(**{**doc, "options": tuple(doc["options"])})
    except FileNotFoundError:
        raise UsageError(f"no plan at {path}",
                         f"prepare it once before any shard runs: harness shard prepare SUITE {prefix} "
                         "--shards N [sweep options]") from None
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise ResultsError(f"{path} is not a shard plan ({e})",
                           "prepare a new one in another directory") from None
    if plan.schema != PLAN_SCHEMA:
        raise ResultsError(f"{path}: plan schema {plan.schema}, this harness reads {PLAN_SCHEMA}",
                           "run the shards with the harness that prepared the plan")
    return plan


def shard_argv(plan: ShardPlan, prefix: Path, i: int, backend: list[str]) -> list[str]:
    """The `harness sweep` arguments for shard ``i``: start it, or resume what it began.

    Refuses a shard number outside the plan, another harness version than the plan's,
    and a suite that changed since the plan was fixed.
    """
    from harness.suite.parse import load_suite

    if not 1 <= i <= plan.shards:
        raise UsageError(f"shard {i} is not in this plan: its shards are 1 to {plan.shards}",
                         f"run shards 1..{plan.shards} (with Slurm: --array=1-{plan.shards})")
    if plan.harness_version != __version__:
        raise UsageError(f"the plan was prepared by harness {plan.harness_version} ({plan.harness_path}); "
                         f"this is harness {__version__} ({harness_path()})",
                         "run every shard with the harness that prepared the plan (set HARNESS)")
    out = plan.shard_dir(prefix, i)
    if _manifests(out):
        return ["sweep", "--resume", str(out), *backend]
    tasks = _option_value(plan.options, "--tasks")
    names = [t.strip() for t in tasks.split(",") if t.strip()] if tasks else None
    checksum = load_suite(Path(plan.suite), names).checksum
    if checksum != plan.suite_checksum:
        raise UsageError(f"the suite at {plan.suite} changed since the plan was fixed (its checksum differs)",
                         "restore the suite as it was, or prepare a new plan in another directory")
    return ["sweep", plan.suite, "--out", str(out), "--shard", f"{i}/{plan.shards}",
            "--seed", str(plan.seed), *plan.options, *backend]


def _option_value(options: tuple[str, ...], name: str) -> str | None:
    for k, opt in enumerate(options):
        if opt == name and k + 1 < len(options):
            return options[k + 1]
        if opt.startswith(name + "="):
            return opt.split("=", 1)[1]
    return None


def status(plan: ShardPlan, prefix: Path) -> dict[int, str]:
    """Per shard: ``finished``, ``started`` (resumable) or ``missing``."""
    out: dict[int, str] = {}
    for i in range(1, plan.shards + 1):
        dirs = _manifests(plan.shard_dir(prefix, i))
        if not dirs:
            out[i] = "missing"
        else:
            out[i] = "finished" if all(store.read_manifest(d).get("finished_at") for d in dirs) else "started"
    return out


def _manifests(shard_dir: Path) -> list[Path]:
    """The result directories of a shard: itself, or the parts it was split into (one per
    user-mode Linux guest, see backends.uml_parts)."""
    from harness.backends.uml_parts import existing_parts

    if (shard_dir / store.MANIFEST_FILE).exists():
        return [shard_dir]
    return existing_parts(shard_dir)
