"""A workload's output, capped: the head and the tail are kept, the middle is cut and said so.

The workload writes into a pipe; a thread copies the first half of the cap to the log
file as it comes and keeps the last half in memory, so a flood of output never fills the
disk (100 MB of stdout used to give a 96 MB log). At the end the kept tail follows a
one-line marker that says how many bytes were cut.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
from dataclasses import dataclass
from pathlib import Path

DEFAULT_LOG_CAP_BYTES = 8 << 20  # 4 MiB head + 4 MiB tail per log; --log-cap changes it
MIN_LOG_CAP_BYTES = 4096
_CHUNK = 1 << 16


@dataclass(frozen=True)
class LogSummary:
    """What a capped log saw: ``bytes`` written by the workload, ``cut_bytes`` not kept."""

    bytes: int
    cut_bytes: int
    error: str | None = None  # e.g. the disk was full

    def to_dict(self) -> dict[str, int | str]:
        out: dict[str, int | str] = {"bytes": self.bytes, "cut_bytes": self.cut_bytes}
        if self.error:
            out["error"] = self.error
        return out


class CappedLog:
    """Give :attr:`write_fd` to the workload as stdout/stderr; :meth:`close` after it ended."""

    def __init__(self, path: Path, cap: int = DEFAULT_LOG_CAP_BYTES) -> None:
        self.path = path
        self.head_left = max(cap, MIN_LOG_CAP_BYTES) // 2
        self.tail_cap = max(cap, MIN_LOG_CAP_BYTES) - self.head_left
        self.total = 0
        self.error: str | None = None
        self.tail = bytearray()
        self._file = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._read_fd, self.write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name=f"log-{path.name}", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        while True:
            ready, _, _ = select.select([self._read_fd], [], [], 0.2)
            if not ready:
                if self._stop.is_set():
                    return  # a writer outlived the trial (an escapee): stop anyway
                continue
            try:
                data = os.read(self._read_fd, _CHUNK)
            except BlockingIOError:
                continue
            if not data:
                return
            self._take(data)

    def _take(self, data: bytes) -> None:
        self.total += len(data)
        if self.head_left > 0 and self.error is None:
            head, data = data[: self.head_left], data[self.head_left:]
            try:
                self._file.write(head)
                self._file.flush()
            except OSError as e:  # a full disk: keep draining the pipe, the workload must not block
                self.error = f"log not fully written: {e.strerror}"
            self.head_left -= len(head)
        if data:
            self.tail += data
            if len(self.tail) > self.tail_cap:
                del self.tail[: len(self.tail) - self.tail_cap]

    def close_writer(self) -> None:
        """Our copy of the write end; call once the workload holds its own."""
        if self.write_fd >= 0:
            os.close(self.write_fd)
            self.write_fd = -1

    def close(self, timeout: float = 5.0) -> LogSummary:
        """Wait for the end of the output (at most ``timeout`` s), write the tail, close."""
        self.close_writer()
        self._thread.join(timeout)
        self._stop.set()
        self._thread.join()
        os.close(self._read_fd)
        try:
            kept = self._file.tell() + len(self.tail)
            cut = self.total - kept
            if cut > 0:
                self._file.write(f"\n[harness: {cut} bytes of output cut here; the log keeps its first "
                                 f"and last bytes]\n".encode())
            self._file.write(bytes(self.tail))
            self._file.close()
        except OSError as e:
            self.error = self.error or f"log not fully written: {e.strerror}"
            with contextlib.suppress(OSError):
                self._file.close()
            cut = self.total
        return LogSummary(self.total, max(0, cut), self.error)
