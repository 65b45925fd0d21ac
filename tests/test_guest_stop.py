"""A signal to every process of a `harness sweep --backend uml` (what `scancel` does) is an
interruption: exit 130 and the resume line, never a traceback or an out-of-memory hint."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO
from suites import write_task


def test_sigterm_to_the_whole_group_stops_the_sweep_resumably(uml_kernel: Path, shared_tmp: Path) -> None:
    for name in ("a", "b"):
        write_task(shared_tmp / "suite", name, "sleep 3; echo ok > result")
    out = shared_tmp / "out"
    p = subprocess.Popen([sys.executable, "-m", "harness", "sweep", str(shared_tmp / "suite"),
                          "--out", str(out), "--repeats", "2", "--profiles", "1x", "--seed", "1",
                          "--backend", "uml"],
                         cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    trials = out / "trials.jsonl"
    deadline = time.monotonic() + 120
    while not (trials.exists() and trials.read_text().strip()):
        assert p.poll() is None and time.monotonic() < deadline, p.communicate()
        time.sleep(0.2)
    # Every process: the harness, linux.uml and its helpers (they are in the guest's own
    # session, so signal them by the process tree, as Slurm's proctrack does).
    import psutil

    procs = [psutil.Process(p.pid), *psutil.Process(p.pid).children(recursive=True)]
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):  # a short-lived helper may be gone
            proc.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "Traceback" not in err and "out of memory" not in err
    assert "stopped by SIGTERM" in err and f"resume with: harness sweep --resume {out}" in err
    done = [json.loads(line)["trial_id"] for line in trials.read_text().splitlines()]
    assert 1 <= len(done) < 4
