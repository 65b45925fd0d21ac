"""One cgroup directory: its files, its processes, killing and removing it."""

from __future__ import annotations

import contextlib
import errno
import os
import select
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from harness.cgroup import fs
from harness.errors import CgroupError


@dataclass(frozen=True)
class Cgroup:
    path: Path

    # File access goes through os.* on string paths: a trial reads and writes some forty
    # cgroup files, and pathlib's per-call overhead was a third of the harness's own cost.
    def file(self, name: str) -> Path:
        return self.path / name

    def has(self, name: str) -> bool:
        return os.path.exists(os.path.join(self.path, name))

    def read(self, name: str) -> str:
        return fs.read_text(self.path / name).strip()

    def read_optional(self, name: str) -> str | None:
        try:
            return fs.read_small(os.path.join(self.path, name)).strip()
        except OSError:
            return None

    def write(self, name: str, value: str) -> None:
        fs.write_text(os.path.join(self.path, name), value)

    def keyed(self, name: str) -> dict[str, int] | None:
        text = self.read_optional(name)
        return None if text is None else fs.parse_keyed(text)

    def child(self, name: str) -> Cgroup:
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"unsafe cgroup name {name!r}")
        return Cgroup(self.path / name)

    def create(self) -> None:
        try:
            self.path.mkdir()
        except OSError as e:
            raise fs.cgroup_error(e, "create", self.path) from None

    def children(self) -> list[Cgroup]:
        try:
            with os.scandir(self.path) as it:  # d_type from the kernel: no stat per file
                return [Cgroup(Path(e.path)) for e in it if e.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return []

    def pids(self) -> list[int]:
        text = self.read_optional("cgroup.procs")
        return [int(p) for p in text.split()] if text else []

    def add_process(self, pid: int) -> None:
        self.write("cgroup.procs", str(pid))

    def enable_controllers(self, wanted: tuple[str, ...]) -> None:
        """Hand ``wanted`` controllers to children, skipping ones already on."""
        enabled = set(self.read("cgroup.subtree_control").split())
        missing = [c for c in wanted if c not in enabled]
        if missing:
            self.write("cgroup.subtree_control", " ".join(f"+{c}" for c in missing))

    def populated(self) -> bool:
        events = self.keyed("cgroup.events")
        if events is None:  # the directory is gone
            return False
        return events.get("populated", 0) == 1

    def kill(self, timeout: float = 10.0) -> None:
        """SIGKILL every process in the subtree and wait until it is empty.

        ``cgroup.kill`` (5.14+) kills racing forks too; on older kernels freeze the
        cgroup so nothing can fork, signal every pid, thaw, and repeat until empty.
        """
        if not self.path.exists():
            return
        if self.has("cgroup.kill"):
            self.write("cgroup.kill", "1")
        else:
            self._freeze_and_kill(timeout)
        if not self.wait_empty(timeout):
            raise CgroupError(f"processes in {self.path} survived SIGKILL for {timeout:g} s",
                              "they are likely stuck in the kernel (D state, e.g. on NFS); "
                              "check `ps -o pid,stat,wchan -p $(cat cgroup.procs)`")

    def _freeze_and_kill(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.populated() and time.monotonic() < deadline:
            if self.has("cgroup.freeze"):
                self.write("cgroup.freeze", "1")
            for cg in [self, *self.descendants()]:
                for pid in cg.pids():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            if self.has("cgroup.freeze"):
                self.write("cgroup.freeze", "0")
            time.sleep(0.01)

    def descendants(self) -> list[Cgroup]:
        out = []
        for c in self.children():
            out.extend(c.descendants())
            out.append(c)
        return out

    def wait_empty(self, timeout: float) -> bool:
        """Wait for ``populated 0`` using poll() on cgroup.events, not a sleep loop."""
        path = self.file("cgroup.events")
        deadline = time.monotonic() + timeout
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return True
        try:
            poller = select.poll()
            poller.register(fd, select.POLLPRI | select.POLLERR)
            while True:
                text = os.pread(fd, 4096, 0).decode()
                if fs.parse_keyed(text).get("populated", 0) == 0:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                poller.poll(min(left, 0.5) * 1000)
        finally:
            os.close(fd)

    def remove(self) -> None:
        """rmdir this cgroup and its descendants, deepest first (rmdir needs them empty)."""
        for cg in [*self.descendants(), self]:
            for attempt in range(50):
                try:
                    cg.path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    # EBUSY right after the last process left: the kernel is still
                    # tearing it down. Retry briefly.
                    if e.errno == errno.EBUSY and attempt < 49:
                        time.sleep(min(0.05, 0.001 * 2 ** (attempt // 4)))
                        continue
                    raise fs.cgroup_error(e, "remove", cg.path) from None
