"""The host's images, handed to the UML guest a sweep runs in (``--backend uml``).

A guest's podman has a store of its own. The images a suite needs that this host
already has (each task's ``docker_image`` and the ``FROM`` images of its Dockerfile, as
``podman images`` lists them) are saved once, loaded into an ext4 store in a guest, and
cached by their image ids (harness.environments.uml_store); the sweep's guest gets that
store through a copy-on-write file of its own. The user does nothing: the images they
have are the images the trials use, under the same ids.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from harness.environments import podman_cli as pc
from harness.environments import uml_store
from harness.environments.task_image import task_image
from harness.errors import HarnessError
from harness.suite.task import TaskSpec

if TYPE_CHECKING:
    from harness.schema.settings import SweepSettings

_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", re.IGNORECASE | re.MULTILINE)


def from_images(dockerfile_text: str) -> list[str]:
    """The images a Dockerfile starts from (not its own stages, not ``$ARG`` names)."""
    stages: set[str] = set()
    out: list[str] = []
    for m in _FROM.finditer(dockerfile_text):
        image, alias = m.group(1), m.group(2)
        if image.lower() not in stages and "$" not in image and image != "scratch" and image not in out:
            out.append(image)
        if alias:
            stages.add(alias.lower())
    return out


def wanted_images(tasks: list[TaskSpec]) -> list[str]:
    refs: list[str] = []
    for task in tasks:
        img = task_image(task)
        names = [img.docker_image] if img.docker_image else []
        if img.context is not None:
            names += from_images((img.context / "Dockerfile").read_text(errors="replace"))
        refs += [n for n in names if n is not None and n not in refs]
    return refs


def guest_store(tasks: list[TaskSpec]) -> Path | None:
    """A cached store holding the wanted images this host has; None if it has none."""
    if shutil.which("podman") is None:
        return None
    podman = pc.Podman.find()
    try:
        present: dict[str, str] = {}
        for ref in wanted_images(tasks):
            proc = podman.run(["image", "inspect", "--format", "{{.Id}}", ref], check=False)
            if proc.returncode == 0:
                present[ref] = proc.stdout.decode().strip()
        if not present:
            return None
        listing = "\n".join(f"{r}={i}" for r, i in sorted(present.items()))
        key = hashlib.sha256(listing.encode()).hexdigest()[:12]
        out = uml_store.cache_dir() / f"store-images-{key}.img"
        with uml_store.locked("store"):
            if out.exists():
                return out
            archive = uml_store.cache_dir() / f"images-{key}-{os.getpid()}.tar"
            try:
                print(f"harness: handing {len(present)} image(s) of this host to the UML guest "
                      "(once per set of images) ...", file=sys.stderr)
                t0 = time.monotonic()
                podman.run(["save", "--multi-image-archive", "--output", str(archive), *sorted(present)],
                           timeout=1800)
                part = uml_store.new_disk(out)
                try:
                    uml_store.fill_in_guest(part, ["load", "--input", str(archive)])
                except BaseException:
                    part.unlink(missing_ok=True)
                    raise
                part.rename(out)
                print(f"harness: images ready for UML guests in {time.monotonic() - t0:.0f} s: {out}",
                      file=sys.stderr)
            finally:
                archive.unlink(missing_ok=True)
        return out
    except subprocess.SubprocessError as e:
        raise HarnessError(f"cannot hand this host's images to the UML guest: {e}",
                           "check `podman images` and `podman save` here") from None
    finally:
        pc.remove_scratch(podman)


@contextlib.contextmanager
def sweep_disks(settings: SweepSettings | None, resume_dir: Path | None) -> Iterator[list[str]]:
    """The ``ubd`` disks for the guest a sweep relays into: a copy-on-write of the store of
    this host's images when the sweep may use podman, else none. ``settings`` is the new
    sweep's, or None with ``resume_dir`` (its manifest holds them)."""
    from harness.results.store import read_manifest
    from harness.suite.parse import load_suite

    if settings is None and resume_dir is not None:
        try:
            settings = read_manifest(resume_dir).settings
        except HarnessError:
            settings = None  # resume itself says what is wrong, inside the guest
    environment = settings.environment if settings is not None else "host"
    suite = settings.suite if settings is not None else None
    tasks = list(settings.tasks) if settings is not None and settings.tasks is not None else None
    if environment == "host" or suite is None:
        yield []
        return
    try:
        store = guest_store(list(load_suite(Path(suite), tasks).tasks))
    except HarnessError:
        store = None  # the sweep inside refuses with the suite's own problems
    if store is None:
        yield []
        return
    disk = uml_store.cow_disk(store, uml_store.cache_dir())
    try:
        yield [disk]
    finally:
        Path(disk.split(",")[0]).unlink(missing_ok=True)
