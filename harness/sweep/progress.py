"""Progress of a sweep on stderr: a redrawn bar on a terminal, a line per trial elsewhere."""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import TextIO

from harness.schema.record import TrialRecord, category


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class Progress:
    def __init__(self, total: int, done_before: int = 0, stream: TextIO | None = None,
                 tty: bool | None = None) -> None:
        self.total = total
        self.done = done_before
        self.done_before = done_before
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.counts: Counter[str] = Counter()
        self.t0 = time.monotonic()

    def rate_per_minute(self) -> float:
        elapsed = time.monotonic() - self.t0
        return 60.0 * (self.done - self.done_before) / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        width = 24
        filled = int(width * self.done / self.total) if self.total else width
        rate = self.rate_per_minute()
        left = self.total - self.done
        eta = _duration(left / rate * 60) if rate > 0 else "?"
        c = self.counts
        return (f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
                f"passed {c['passed']} failed {c['task_failure']} infra {c['infra_error']} "
                f"| {rate:.1f}/min | ETA {eta}")

    def trial_done(self, rec: TrialRecord) -> None:
        self.done += 1
        self.counts[category(rec.outcome)] += 1
        if self.tty:
            self.stream.write("\r\033[K" + self.line())
        else:
            reason = f" ({rec.infra_reason})" if rec.infra_reason else ""
            self.stream.write(f"{self.done}/{self.total} {rec.trial_id}: {rec.outcome}{reason} "
                              f"{rec.wall_seconds:.1f}s\n")
        self.stream.flush()

    def note(self, message: str) -> None:
        prefix = "\r\033[K" if self.tty else ""
        self.stream.write(f"{prefix}{message}\n")
        if self.tty:
            self.stream.write(self.line())
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
        self.stream.write(f"{self.line()}\n")
        self.stream.flush()
