"""A sweep's images, made ready before its first trial (never inside a trial's cgroup or time).

Per task: ``docker_image`` pulled with ``--pull``; else ``environment/`` built once,
tagged by a hash of the directory, and reused while that tag exists; else a
``docker_image`` the machine already has, used as it is. Every failure is collected,
so that the sweep can refuse with the whole list before anything runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.environments.podman_cli import Podman, PodmanError
from harness.environments.task_image import TaskImage

DEFAULT_BUILD_TIMEOUT = 600.0  # Harbor's [environment] build_timeout_sec


@dataclass(frozen=True)
class ReadyImage:
    task: str
    reference: str
    image_id: str  # sha256:... of the image's config: what every trial ran
    source: str  # "built" | "reused" | "pulled" | "present"
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"reference": self.reference, "image_id": self.image_id, "source": self.source,
                "seconds": round(self.seconds, 2)}


@dataclass(frozen=True)
class ImageFailure:
    task: str
    message: str
    fix: str


def prepare(podman: Podman, image: TaskImage, pull: bool, build_timeout: float,
            log: Path | None = None) -> ReadyImage | ImageFailure:
    t0 = time.monotonic()
    try:
        if pull and image.docker_image is not None:
            podman.run(["pull", image.docker_image], timeout=build_timeout)
            return _ready(podman, image, image.docker_image, "pulled", t0)
        if image.context is not None:
            tag = image.build_tag()
            if _exists(podman, tag):
                return _ready(podman, image, tag, "reused", t0)
            args = ["build", "--tag", tag, "--label", "harness.task=" + image.task]
            if not image.allow_internet or podman.network == "none":
                args += ["--network", "none"]
            proc = podman.run([*args, str(image.context)], timeout=build_timeout, check=False)
            if log is not None:
                log.parent.mkdir(parents=True, exist_ok=True)
                log.write_bytes(proc.stdout + proc.stderr)
            if proc.returncode != 0:
                tail = " | ".join(proc.stderr.decode(errors="replace").strip().splitlines()[-3:])
                return ImageFailure(image.task, f"podman build of {image.context} failed "
                                    f"(status {proc.returncode}): {tail}",
                                    "fix the Dockerfile, or bring its base image in: podman pull, "
                                    "or podman load -i IMAGE.tar (air-gapped)")
            return _ready(podman, image, tag, "built", t0)
        assert image.docker_image is not None
        if _exists(podman, image.docker_image):
            return _ready(podman, image, image.docker_image, "present", t0)
        return ImageFailure(image.task, f"image {image.docker_image} is not on this machine and the "
                            "task has no environment/Dockerfile",
                            f"give --pull, or podman pull {image.docker_image} (air-gapped: podman load)")
    except PodmanError as e:
        hint = ("check the registry is reachable (air-gapped: podman load -i IMAGE.tar)"
                if pull else e.fix or "")
        return ImageFailure(image.task, str(e), hint)


def _exists(podman: Podman, reference: str) -> bool:
    return podman.run(["image", "exists", reference], check=False).returncode == 0


def _ready(podman: Podman, image: TaskImage, reference: str, source: str, t0: float) -> ReadyImage:
    out = podman.run(["image", "inspect", "--format", "{{.Id}}", reference]).stdout.decode().strip()
    image_id = out.splitlines()[0] if out else ""
    if image_id and not image_id.startswith("sha256:"):
        image_id = "sha256:" + image_id
    return ReadyImage(image.task, reference, image_id, source, time.monotonic() - t0)
