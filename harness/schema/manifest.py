"""The manifest (``DIR/manifest.json``): a sweep's set-up, written before the first trial and
again at the end, read by resume, report and compare. README, "Result files"."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from harness.schema.fields import kwargs, names
from harness.schema.settings import SweepSettings
from harness.schema.version import SCHEMA_KEY, check_version
from harness.sweep.profiles import Profile

SCHEMA_VERSION = 1
MANIFEST_VERSIONS: tuple[int, ...] = (SCHEMA_VERSION,)  # what a reader of manifest.json accepts


@dataclass(frozen=True)
class TaskSpecInfo:
    cpus: float
    memory_bytes: int
    agent_timeout_sec: float | None
    verifier_timeout_sec: float | None


@dataclass(frozen=True)
class SuiteInfo:
    name: str
    path: str
    checksum: str  # over every file of the tasks swept
    tasks: list[str]
    specs: dict[str, TaskSpecInfo]
    changed_during_sweep: bool = False  # the checksum differed at the end (issue 11, item 5)

    @classmethod
    def from_json(cls, doc: Any, where: str) -> SuiteInfo:
        args = kwargs(cls, doc, where)
        args["specs"] = {k: TaskSpecInfo(**kwargs(TaskSpecInfo, v, f"{where}: specs.{k}"))
                         for k, v in args["specs"].items()}
        return cls(**args)


@dataclass(frozen=True)
class HostInfo:
    """The machine as the trials saw it (inside a UML guest: the guest, named after its host)."""

    hostname: str
    kernel: str
    os: str
    machine: str
    cpu_model: str | None
    cpu_mhz_max: int | None
    cores: int | None
    memory_bytes: int
    swap_bytes: int
    cgroup_layout: str
    cgroup_mount: str | None
    backend: str
    python_version: str
    harness_version: str
    # Added after the first manifests; absent (None) in those, and then left out on write.
    network_interfaces: tuple[str, ...] | None = None  # a guest's way out, if any (eth0: slirp)
    harness_path: str | None = None  # where the harness that ran is installed

    def to_json(self) -> dict[str, Any]:
        doc = dataclasses.asdict(self)
        for name in _HOST_OPTIONAL:
            if doc[name] is None:
                del doc[name]
        if self.network_interfaces is not None:
            doc["network_interfaces"] = list(self.network_interfaces)
        return doc

    @classmethod
    def from_json(cls, doc: Any, where: str) -> HostInfo:
        args = kwargs(cls, doc, where)
        if args.get("network_interfaces") is not None:
            args["network_interfaces"] = tuple(args["network_interfaces"])
        return cls(**args)


_HOST_OPTIONAL = ("network_interfaces", "harness_path")


@dataclass(frozen=True)
class BudgetInfo:
    """The admission budget's parameters (`harness.sweep.budget`)."""

    host_memory_bytes: int
    host_cpus: float
    concurrency: int
    memory_reserve_bytes: int
    cpu_reserve: float
    memory_capacity_bytes: int
    cpu_capacity: float


@dataclass(frozen=True)
class Invocation:
    """One start or resume of the sweep."""

    started_at: str
    resumed: bool
    host: str
    backend: str


@dataclass(frozen=True)
class Manifest:
    sweep_id: str
    harness_version: str
    python_version: str
    suite: SuiteInfo
    settings: SweepSettings
    profiles: tuple[Profile, ...]
    seed: int
    repeats: int
    concurrency: int
    shard: str | None
    agent: str
    backend: str
    host: HostInfo
    budget: BudgetInfo
    cgroup_files: dict[str, dict[str, dict[str, str]]]  # profile -> task spec -> file -> value
    cgroup_fixed: dict[str, str]
    n_trials_planned: int
    started_at: str
    finished_at: str | None = None  # None until every trial is recorded
    invocations: tuple[Invocation, ...] = ()
    cgroup_sessions: tuple[str, ...] = ()
    # Where the tasks ran (harness.environments): the options, each task's choice, its image.
    environment: str = "host"
    agent_on: str = "container"
    verifier_limits: str = "none"
    pull: bool = False
    environments: dict[str, str] = field(default_factory=dict)  # task -> host | podman
    images: dict[str, dict[str, Any]] = field(default_factory=dict)  # task -> the image made ready
    image_failures: dict[str, str] = field(default_factory=dict)  # task -> why (--skip-broken-images)
    podman_version: str | None = None
    memory_recursiveprot: bool | None = None  # None: no container task
    # per overridden task: the spec in force and the declared one (None: no --spec-overrides)
    spec_overrides: dict[str, dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {SCHEMA_KEY: SCHEMA_VERSION}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "settings":
                doc[f.name] = self.settings.to_json()
            elif f.name == "profiles":
                doc[f.name] = [p.to_json() for p in self.profiles]
            elif f.name == "invocations":
                doc[f.name] = [dataclasses.asdict(i) for i in self.invocations]
            elif f.name == "host":
                doc[f.name] = self.host.to_json()
            elif f.name in ("suite", "budget"):
                doc[f.name] = dataclasses.asdict(value)
            elif isinstance(value, tuple):
                doc[f.name] = list(value)
            else:
                doc[f.name] = value
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any], where: str) -> Manifest:
        doc = check_version(doc, where, "manifest", SCHEMA_VERSION)
        args = kwargs(cls, doc, where)
        args["suite"] = SuiteInfo.from_json(args["suite"], f"{where}: suite")
        args["settings"] = SweepSettings.from_json(args["settings"], f"{where}: settings")
        args["profiles"] = tuple(Profile.from_json(p, f"{where}: profiles") for p in args["profiles"])
        args["host"] = HostInfo.from_json(args["host"], f"{where}: host")
        args["budget"] = BudgetInfo(**kwargs(BudgetInfo, args["budget"], f"{where}: budget"))
        args["invocations"] = tuple(Invocation(**kwargs(Invocation, i, f"{where}: invocations"))
                                    for i in args.get("invocations", ()))
        args["cgroup_sessions"] = tuple(args.get("cgroup_sessions", ()))
        return cls(**args)

    def with_invocation(self, invocation: Invocation, session: str) -> Manifest:
        return dataclasses.replace(self, invocations=(*self.invocations, invocation),
                                   cgroup_sessions=(*self.cgroup_sessions, session))

    def with_environments(self, info: dict[str, Any]) -> Manifest:
        """With the environment fields (harness.environments.setup) set."""
        return dataclasses.replace(self, **info)

    def finished(self, at: str) -> Manifest:
        return dataclasses.replace(self, finished_at=at)


MANIFEST_FIELDS: tuple[str, ...] = names(Manifest)
