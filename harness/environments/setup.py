"""Choosing each task's environment and making its image ready, before the first trial.

Everything that can refuse a sweep refuses here, with every task listed: podman
missing or broken, a task that needs a container under ``--environment podman`` but
names none, an image that cannot be built or pulled (unless ``skip_broken``).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.environments import AGENT_PLACES, ENVIRONMENTS, VERIFIER_LIMITS
from harness.environments import podman_cli as pc
from harness.environments.base import Environment
from harness.environments.images import DEFAULT_BUILD_TIMEOUT, ImageFailure, ReadyImage, prepare
from harness.environments.task_image import TaskImage, task_image
from harness.errors import UsageError
from harness.suite.task import TaskSpec


@dataclass(frozen=True)
class EnvironmentOptions:
    environment: str = "host"  # host | podman | auto
    agent_on: str = "container"  # container | host
    verifier_limits: str = "none"  # none | same
    pull: bool = False
    skip_broken_images: bool = False

    def validate(self) -> None:
        for flag, value, allowed in (("--environment", self.environment, ENVIRONMENTS),
                                     ("--agent-on", self.agent_on, AGENT_PLACES),
                                     ("--verifier-limits", self.verifier_limits, VERIFIER_LIMITS)):
            if value not in allowed:
                raise UsageError(f"{flag} {value!r} is not one of {', '.join(allowed)}",
                                 f"give {flag} {allowed[0]}")


@dataclass
class Prepared:
    environments: dict[str, Environment] = field(default_factory=dict)  # tasks not here: host
    skipped: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)


def choose(option: str, images: dict[str, TaskImage], podman_installed: bool) -> dict[str, str]:
    """Per task: ``host`` or ``podman``."""
    if option == "host":
        return dict.fromkeys(images, "host")
    if option == "podman":
        bare = sorted(t for t, i in images.items() if not i.containerized)
        if bare:
            raise UsageError(f"--environment podman: no environment/Dockerfile nor [environment] "
                             f"docker_image in: {', '.join(bare)}",
                             "add one to each task, or use --environment auto (host for those)")
        return dict.fromkeys(images, "podman")
    return {t: "podman" if i.containerized and podman_installed else "host" for t, i in images.items()}


def prepare_environments(options: EnvironmentOptions, tasks: Sequence[TaskSpec], log_dir: Path,
                         note: Callable[[str], None] | None = None) -> Prepared:
    """Choose, check podman, make every image ready; UsageError listing every failure."""
    from harness.environments.host import HostEnvironment
    from harness.environments.podman_trial import PodmanEnvironment, PodmanSettings, recursive_protection

    options.validate()
    say = note or (lambda text: print(text, file=sys.stderr))
    images = {t.name: task_image(t) for t in tasks}
    chosen = choose(options.environment, images, shutil.which("podman") is not None)
    out = Prepared(manifest={"environment": options.environment, "agent_on": options.agent_on,
                             "verifier_limits": options.verifier_limits, "pull": options.pull,
                             "environments": chosen, "images": {}, "image_failures": {},
                             "podman_version": None, "memory_recursiveprot": None})
    host = HostEnvironment()
    out.environments = {t: host for t, kind in chosen.items() if kind == "host"}
    wanted = [t for t in tasks if chosen[t.name] == "podman"]
    if not wanted:
        return out
    podman = pc.Podman.find()
    out.manifest["podman_version"] = podman.check()
    out.manifest["memory_recursiveprot"] = recursive_protection()
    ready: dict[str, ReadyImage] = {}
    failures: list[ImageFailure] = []
    for task in wanted:
        say(f"harness: image for {task.name} ...")
        result = prepare(podman, images[task.name], options.pull, _build_timeout(task),
                         log=log_dir / f"{task.name}.build.log")
        if isinstance(result, ImageFailure):
            failures.append(result)
            out.manifest["image_failures"][task.name] = result.message
        else:
            ready[task.name] = result
            out.manifest["images"][task.name] = result.to_json()
            say(f"harness: image for {task.name}: {result.reference} ({result.source}, "
                f"{result.seconds:.1f} s)")
    if failures and not options.skip_broken_images:
        listing = "; ".join(f"{f.task}: {f.message}" for f in failures)
        raise UsageError(f"{len(failures)} task image(s) are not ready: {listing}",
                         f"{failures[0].fix}; or give --skip-broken-images to sweep without those tasks")
    out.skipped = [f.task for f in failures]
    settings = PodmanSettings(podman, ready, images, options.agent_on, options.verifier_limits)
    env = PodmanEnvironment(settings)
    for task in wanted:
        if task.name in ready:
            out.environments[task.name] = env
    return out


def _build_timeout(task: TaskSpec) -> float:
    env = task.metadata.get("environment")
    value = env.get("build_timeout_sec") if isinstance(env, dict) else None
    return float(value) if isinstance(value, (int, float)) and value > 0 else DEFAULT_BUILD_TIMEOUT


def remove_leftover_containers(sweep_id: str, alive: Callable[[str], bool]) -> list[str]:
    """Containers a killed invocation of this sweep left: found by label, removed unless
    their session (a harness still running, e.g. another shard) is alive. Returns their names."""
    if shutil.which("podman") is None:
        return []
    podman = pc.Podman.find()
    listing = podman.run(["ps", "--all", "--filter", f"label={pc.LABEL_SWEEP}={sweep_id}", "--format",
                          "{{.Names}}\t{{index .Labels \"" + pc.LABEL_SESSION + "\"}}"])
    removed = []
    for line in listing.stdout.decode().splitlines():
        name, _, session = line.partition("\t")
        if name and not alive(session):
            podman.run(["rm", "--force", "--time", "0", "--ignore", name], timeout=pc.REMOVE)
            removed.append(name)
    pc.remove_scratch(podman)
    return removed
