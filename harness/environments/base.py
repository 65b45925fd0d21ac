"""The seam between a sweep trial and where it runs: the `Environment` protocol, defined
beside `run_task_trial` (harness.sweep.task_trial), which hands a trial to it."""

from __future__ import annotations

from harness.sweep.task_trial import Environment

__all__ = ["Environment"]
