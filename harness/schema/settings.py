"""A sweep's settings: everything that defines its set of trials. The manifest stores them
(``settings``) so that ``--resume`` needs nothing else; a library caller builds them to run
a sweep (`harness.backends`)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.runner.timeline import DEFAULT_FIRST as DEFAULT_SAMPLE_INTERVAL
from harness.schema.fields import kwargs
from harness.sweep.agent import AgentTemplate
from harness.sweep.profiles import Profile


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

    def to_json(self) -> dict[str, Any]:
        return {"suite": str(self.suite), "profiles": [p.to_json() for p in self.profiles],
                "repeats": self.repeats, "seed": self.seed, "concurrency": self.concurrency,
                "agent": self.agent, "tasks": None if self.tasks is None else list(self.tasks),
                "shard": self.shard, "keep_workdirs": self.keep_workdirs,
                "environment": self.environment, "agent_on": self.agent_on,
                "verifier_limits": self.verifier_limits, "pull": self.pull,
                "skip_broken_images": self.skip_broken_images,
                "sample_interval": self.sample_interval, "spec_overrides": self.spec_overrides}

    @classmethod
    def from_json(cls, doc: dict[str, Any], where: str) -> SweepSettings:
        args = kwargs(cls, doc, where)
        args["suite"] = Path(args["suite"])
        args["profiles"] = tuple(Profile.from_json(p, f"{where}: profiles") for p in args["profiles"])
        if args.get("tasks") is not None:
            args["tasks"] = tuple(args["tasks"])
        return cls(**args)
