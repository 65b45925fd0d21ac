"""Building small Terminal-Bench-layout suites for tests."""

from __future__ import annotations

from pathlib import Path

ALLOC_PY = ("import sys; b = bytearray(int(sys.argv[1]) << 20); "
            "b[::4096] = b'x' * len(b[::4096])")


def write_task(root: Path, name: str, solve: str, test: str = "test -f result",
               memory: str = 'memory_mb = 32', cpus: float = 1, agent_timeout: float = 60) -> Path:
    d = root / name
    (d / "solution").mkdir(parents=True)
    (d / "tests").mkdir()
    (d / "task.toml").write_text(
        f'version = "1.0"\n\n[agent]\ntimeout_sec = {agent_timeout}\n\n[verifier]\ntimeout_sec = 60\n\n'
        f"[environment]\ncpus = {cpus}\n{memory}\n")
    (d / "instruction.md").write_text(f"Task {name}.\n")
    (d / "solution" / "solve.sh").write_text(f"#!/bin/bash\nset -e\n{solve}\n")
    (d / "tests" / "test.sh").write_text(f"#!/bin/bash\n{test}\n")
    return d


def spike_suite(root: Path) -> Path:
    """One task that needs ~2x its spec for a moment (an install step), one that does not care."""
    suite = root / "suite"
    write_task(suite, "spike", f'"$HARNESS_PYTHON" -c "{ALLOC_PY}" 56\necho ok > result')
    write_task(suite, "calm", "echo ok > result")
    return suite
