"""The tightest memory limit above a cgroup: what a scheduler's job cgroup grants its trials.

Inside a Slurm job with ``task/cgroup`` on cgroup v2 the harness works in the task's cgroup,
and the job's ``--mem`` is ``memory.max`` of ancestors (``job_N`` and ``step_N/user``), not
of that cgroup itself: every trial's limit and guarantee sits under it.
"""

from __future__ import annotations

from pathlib import Path


def limit_above(base: Path, mount: Path) -> tuple[int, Path] | None:
    """The least ``memory.max`` of ``base`` and its ancestors below ``mount``, and where."""
    best: tuple[int, Path] | None = None
    d = base
    while d != mount and mount in d.parents:
        try:
            text = (d / "memory.max").read_text().strip()
        except OSError:
            text = "max"
        if text.isdigit() and (best is None or int(text) < best[0]):
            best = (int(text), d)
        d = d.parent
    return best
