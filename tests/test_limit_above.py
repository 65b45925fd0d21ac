"""The tightest memory.max above the harness's cgroup (a Slurm job's --mem), read from files."""

from __future__ import annotations

from pathlib import Path

from harness.cgroup.limit_above import limit_above


def test_the_job_limit_above_the_task_cgroup_is_found(tmp_path: Path) -> None:
    # The layout Slurm 22.05's cgroup/v2 made for `srun --mem=300M` (slurm_cgroup_v2_probe.sh).
    job = tmp_path / "system.slice" / "localhost_slurmstepd.scope" / "job_1"
    task = job / "step_0" / "user" / "task_0"
    task.mkdir(parents=True)
    for d, value in ((task, "max"), (task.parent, "314572800"), (task.parent.parent, "max"),
                     (job, "314572800"), (job.parent, "max"), (job.parent.parent, "max")):
        (d / "memory.max").write_text(value + "\n")
    assert limit_above(task, tmp_path) == (314572800, task.parent)
    (job / "memory.max").write_text("104857600\n")
    assert limit_above(task, tmp_path) == (104857600, job)
    assert limit_above(tmp_path / "system.slice", tmp_path) is None
