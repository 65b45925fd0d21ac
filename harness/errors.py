"""Errors the harness raises: each says what went wrong, where, and the fix.

Library code raises; only the CLI turns an error into a message and an exit status.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base error. ``fix`` is the one thing the user can do about it."""

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message}\n  fix: {self.fix}" if self.fix else self.message


class UsageError(HarnessError):
    """Bad input from the user (a flag, a file, a suite). Nothing was written."""


class CgroupError(HarnessError):
    """The cgroup filesystem refused something or is not usable here."""


class SpawnError(HarnessError):
    """The workload could not be started (not found, not executable)."""

    def __init__(self, message: str, exit_code: int, fix: str | None = None) -> None:
        super().__init__(message, fix)
        self.exit_code = int(exit_code)


class ResultsError(HarnessError):
    """A results directory is missing, corrupt, or of another sweep."""


class Interrupted(HarnessError):
    """Ctrl-C or SIGTERM: finished trials are safe; the rest can be resumed."""
