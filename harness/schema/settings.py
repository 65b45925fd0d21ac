"""A sweep's settings: everything that defines its set of trials. The manifest stores them
(``settings``) so that ``--resume`` needs nothing else; a library caller builds them to run
a sweep (`harness.backends`)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ResultsError
from harness.runner.logcap import DEFAULT_LOG_CAP_BYTES
from harness.runner.timeline import DEFAULT_FIRST as DEFAULT_SAMPLE_INTERVAL
from harness.schema.fields import kwargs
from harness.sweep.agent import AgentTemplate
from harness.sweep.profiles import Profile

# field -> (accepted JSON types, may be null): a hand-edited manifest is refused with the
# field that is wrong (issue 11, item 10), never a KeyError or TypeError mid-way.
_TYPES: dict[str, tuple[tuple[type, ...], bool]] = {
    "suite": ((str,), False),
    "profiles": ((list,), False),
    "repeats": ((int,), False),
    "seed": ((int,), False),
    "concurrency": ((int,), False),
    "agent": ((str,), False),
    "tasks": ((list,), True),
    "shard": ((str,), True),
    "keep_workdirs": ((bool,), False),
    "environment": ((str,), False),
    "agent_on": ((str,), False),
    "verifier_limits": ((str,), False),
    "pull": ((bool,), False),
    "skip_broken_images": ((bool,), False),
    "sample_interval": ((int, float), False),
    "spec_overrides": ((dict,), True),
    "pass_env": ((list,), False),
    "log_cap_bytes": ((int,), False),
    "agent_user": ((str,), True),
    "protect_limits": ((bool,), False),
}


@dataclass(frozen=True)
class SweepSettings:
    suite: Path
    profiles: tuple[Profile, ...]
    repeats: int = 3
    seed: int = field(default_factory=lambda: secrets.randbelow(2**31))
    concurrency: int = 1
    agent: str = AgentTemplate().template
    tasks: tuple[str, ...] | None = None
    shard: str | None = None  # "i/N"
    keep_workdirs: bool = False
    # Where each task's trials run (harness.environments; README, "Real task environments").
    environment: str = "host"  # host | podman | auto
    agent_on: str = "container"  # podman: container | host
    verifier_limits: str = "none"  # podman: none | same
    pull: bool = False  # podman: pull docker_image instead of building environment/
    skip_broken_images: bool = False
    sample_interval: float = DEFAULT_SAMPLE_INTERVAL  # first interval of the timelines; 0 = none
    # task -> {"memory_bytes": int, "cpus": float}, either may be absent (--spec-overrides)
    spec_overrides: dict[str, dict[str, Any]] | None = None
    # issue 11: what else of our environment the agent gets (names only are recorded), the
    # cap on each log, the unprivileged user the agent phase runs as, and --protect-limits.
    pass_env: tuple[str, ...] = ()
    log_cap_bytes: int = DEFAULT_LOG_CAP_BYTES
    agent_user: str | None = None
    protect_limits: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"suite": str(self.suite), "profiles": [p.to_json() for p in self.profiles],
                "repeats": self.repeats, "seed": self.seed, "concurrency": self.concurrency,
                "agent": self.agent, "tasks": None if self.tasks is None else list(self.tasks),
                "shard": self.shard, "keep_workdirs": self.keep_workdirs,
                "environment": self.environment, "agent_on": self.agent_on,
                "verifier_limits": self.verifier_limits, "pull": self.pull,
                "skip_broken_images": self.skip_broken_images,
                "sample_interval": self.sample_interval, "spec_overrides": self.spec_overrides,
                "pass_env": list(self.pass_env), "log_cap_bytes": self.log_cap_bytes,
                "agent_user": self.agent_user, "protect_limits": self.protect_limits}

    @classmethod
    def from_json(cls, doc: dict[str, Any], where: str) -> SweepSettings:
        args = kwargs(cls, doc, where)
        # The seed has a random default for a new sweep; a stored one must be there, or a
        # resume would run another plan.
        problems = [] if "seed" in args else ["lacks seed"]
        problems += _problems(args)
        if problems:
            raise ResultsError(f"{where}: " + "; ".join(problems),
                               "restore manifest.json as `harness sweep` wrote it, or start a new sweep")
        args["suite"] = Path(args["suite"])
        args["profiles"] = tuple(Profile.from_json(p, f"{where}: profiles") for p in args["profiles"])
        for key in ("tasks", "pass_env"):
            if args.get(key) is not None:
                args[key] = tuple(args[key])
        return cls(**args)


def _problems(args: dict[str, Any]) -> list[str]:
    problems = []
    for key, value in args.items():
        types, nullable = _TYPES.get(key, ((object,), True))
        if value is None and nullable:
            continue
        # bool is an int to Python; a count of True is still wrong.
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            problems.append(f"{key}: {value!r} is not a {'/'.join(t.__name__ for t in types)}")
    for key in ("repeats", "concurrency"):
        value = args.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value < 1:
            problems.append(f"{key}: {value} is below 1")
    for key in ("tasks", "pass_env"):
        value = args.get(key)
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            problems.append(f"{key}: every entry must be a string")
    profiles = args.get("profiles")
    if isinstance(profiles, list) and not all(isinstance(p, dict) for p in profiles):
        problems.append("profiles: every profile must be an object")
    return problems
