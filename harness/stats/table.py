"""The compact columnar form of a sweep's trials, and per (task, profile) counts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Category codes: a trial is exactly one of these (harness.record.category).
PASSED, TASK_FAILURE, INFRA_ERROR = 0, 1, 2
CATEGORIES: tuple[str, ...] = ("passed", "task_failure", "infra_error")


@dataclass(frozen=True)
class TrialTable:
    """One row per trial; strings are coded as indices into the name lists."""

    task: np.ndarray  # int32 codes into task_names
    profile: np.ndarray  # int32 codes into profile_names
    category: np.ndarray  # int8: PASSED / TASK_FAILURE / INFRA_ERROR
    started: np.ndarray  # float64 POSIX seconds, NaN when unknown
    host: np.ndarray  # int32 codes into host_names
    task_names: list[str]
    profile_names: list[str]
    host_names: list[str]
    memory_multiplier: list[float | None]  # per profile; None = uncapped
    cpu_multiplier: list[float | None]
    timeout_multiplier: list[float | None] | None = None  # of the agent timeout; None inside = no timeout

    def __len__(self) -> int:
        return int(self.task.shape[0])

    def profile_index(self, name: str) -> int | None:
        try:
            return self.profile_names.index(name)
        except ValueError:
            return None


@dataclass(frozen=True)
class CellCounts:
    """Counts per (task, profile): arrays of shape (n_tasks, n_profiles)."""

    n: np.ndarray
    passed: np.ndarray
    infra: np.ndarray

    @classmethod
    def from_table(cls, table: TrialTable) -> CellCounts:
        t, p = len(table.task_names), len(table.profile_names)
        cell = table.task.astype(np.int64) * p + table.profile
        size = t * p
        n = np.bincount(cell, minlength=size).reshape(t, p)
        passed = np.bincount(cell, weights=table.category == PASSED, minlength=size).reshape(t, p)
        infra = np.bincount(cell, weights=table.category == INFRA_ERROR, minlength=size).reshape(t, p)
        return cls(n=n, passed=passed.astype(np.int64), infra=infra.astype(np.int64))

    @property
    def failed(self) -> np.ndarray:
        return np.asarray(self.n - self.passed - self.infra)

    def success_rates(self) -> np.ndarray:
        """Per-task success rate, infra errors counted as failures; NaN where no trials."""
        return _ratio(self.passed, self.n)

    def infra_rates(self) -> np.ndarray:
        return _ratio(self.infra, self.n)

    def task_failure_rates(self) -> np.ndarray:
        return _ratio(self.failed, self.n)

    def success_rates_excluding_infra(self) -> np.ndarray:
        """Per-task success rate among trials without an infra error (NaN if all were)."""
        return _ratio(self.passed, self.n - self.infra)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out
