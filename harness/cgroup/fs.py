"""Reading and writing cgroup files, with errors that name the file, the errno and the fix."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from harness.errors import CgroupError

_DELEGATE_FIX = (
    "run as root, or start the harness in a delegated scope: "
    "systemd-run --user --scope -p Delegate=yes -- harness ...; `harness doctor` shows what is missing"
)


def _fix_for(err: OSError, path: Path, value: str | None) -> str:
    name = path.name
    if err.errno in (errno.EACCES, errno.EPERM):
        return _DELEGATE_FIX
    if err.errno == errno.ENOENT and name == "cgroup.subtree_control":
        return (f"a controller in {value!r} is not offered to {path.parent} (see its cgroup.controllers); "
                "on a hybrid host memory is bound to cgroup v1: use --backend uml")
    if err.errno == errno.ENOENT:
        if name.startswith(("memory.", "cpu.", "pids.")):
            controller = name.split(".")[0]
            return (f"the {controller} controller is not enabled for {path.parent}: it must be in "
                    f"{path.parent.parent}/cgroup.subtree_control (on a hybrid host it is bound to "
                    "cgroup v1; use --backend uml)")
        return "the cgroup is gone or the kernel lacks this file; `harness doctor` tells which"
    if err.errno == errno.EBUSY and name == "cgroup.subtree_control":
        # The "no internal processes" rule: a non-root cgroup holding processes cannot
        # hand domain controllers to its children.
        return f"move the processes out of {path.parent} into a leaf cgroup first"
    if err.errno == errno.EOPNOTSUPP:
        return "the controller is bound to cgroup v1 on this host; use --backend uml or a pure-v2 host"
    if err.errno == errno.EINVAL and value is not None:
        return f"the kernel rejected the value {value!r} for {name}; check its format"
    if err.errno == errno.ENOTEMPTY:
        return "kill the processes in it (cgroup.kill) and remove its child cgroups first"
    return "see `harness doctor`"


def cgroup_error(err: OSError, action: str, path: Path, value: str | None = None) -> CgroupError:
    reason = errno.errorcode.get(err.errno or 0, str(err.errno))
    what = f"{action} {path}" + (f" (value {value!r})" if value is not None else "")
    return CgroupError(f"cannot {what}: {reason} ({os.strerror(err.errno or 0)})",
                       _fix_for(err, path, value))


def read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as e:
        raise cgroup_error(e, "read", path) from None


def read_small(path: str) -> str:
    """A cgroup file's whole text in one read (they are at most a page or two); OSError as is."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, 65536)
    finally:
        os.close(fd)
    return data.decode()


def write_text(path: str | Path, value: str) -> None:
    """One ``write()`` of ``value``: cgroup files take a value per write call."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as e:
        raise cgroup_error(e, "open", Path(path), value) from None
    try:
        os.write(fd, value.encode())
    except OSError as e:
        raise cgroup_error(e, "write", Path(path), value) from None
    finally:
        os.close(fd)


def parse_keyed(text: str) -> dict[str, int]:
    """``"key value"`` lines (memory.events, cpu.stat, pids.events) → dict."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return out


def parse_pressure(text: str) -> dict[str, int]:
    """PSI file → ``{"some_total": µs, "full_total": µs}``."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        for field in rest.split():
            key, _, value = field.partition("=")
            if key == "total":
                out[f"{kind}_total"] = int(value)
    return out

