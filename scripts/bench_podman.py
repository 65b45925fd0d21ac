"""Per-trial start-up overhead of the podman environment, against a bare exec.

Measures, medians of --repeats: a bare fork+exec of ``true``; ``podman run -d`` of a
``sleep infinity`` container in a cgroup (as a trial starts); ``podman exec true`` (each
of the agent and verifier phases pays one); ``podman cp`` of a small tests/ directory;
``podman rm -f`` (the end of a trial). Where this host has no usable cgroup v2 (hybrid
layout) the measurement runs in a user-mode Linux guest over the cached podman store
(harness.environments.uml_store), as the tests do.

    python scripts/bench_podman.py [--repeats 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _time(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def measure(repeats: int) -> dict[str, float]:
    """Run here (natively, or already inside a guest). Seconds, medians."""
    from harness.environments.podman_cli import Podman
    from harness.environments.uml_store import BASE_IMAGE

    podman = Podman.find().argv([])
    cg = Path("/sys/fs/cgroup/harness-bench")
    cg.mkdir(exist_ok=True)
    tests = Path(tempfile.mkdtemp(prefix="bench-tests-"))
    (tests / "test.sh").write_text("#!/bin/bash\necho 1 > /logs/verifier/reward.txt\n")
    samples: dict[str, list[float]] = {k: [] for k in ("bare_exec", "podman_run", "podman_exec",
                                                        "podman_cp", "podman_rm")}
    try:
        for i in range(repeats):
            name = f"harness-bench-{os.getpid()}-{i}"
            samples["bare_exec"].append(_time(["true"]))
            samples["podman_run"].append(_time([
                *podman, "run", "--detach", "--name", name, "--network", "none", "--cgroup-parent",
                "/harness-bench", "--cgroups", "no-conmon", "--entrypoint", "sleep", BASE_IMAGE, "infinity"]))
            samples["podman_exec"].append(_time([*podman, "exec", name, "true"]))
            samples["podman_cp"].append(_time([*podman, "cp", f"{tests}/.", f"{name}:/tests"]))
            samples["podman_rm"].append(_time([*podman, "rm", "--force", "--time", "0", name]))
    finally:
        for child in cg.iterdir():
            if child.is_dir():
                child.rmdir()
        cg.rmdir()
    out = {k: round(statistics.median(v), 4) for k, v in samples.items()}
    # A trial: run, two execs (agent, verifier), two copies (solution, tests), rm.
    out["per_trial_overhead"] = round(out["podman_run"] + 2 * out["podman_exec"] + 2 * out["podman_cp"]
                                      + out["podman_rm"] - 2 * out["bare_exec"], 3)
    return out


def in_guest(repeats: int) -> dict[str, float]:
    from harness.backends.protocol import IN_GUEST_ENV
    from harness.backends.uml import UmlGuest
    from harness.environments import uml_store

    store = uml_store.base_store()
    scratch = Path(os.environ.get("HARNESS_UML_SCRATCH", "/var/tmp"))
    disk = uml_store.cow_disk(store, scratch)
    try:
        with UmlGuest(mem="1G", disks=[disk]) as guest:
            python = os.path.realpath(sys.executable)
            r = guest.run([python, "-m", "harness.environments.uml_podman"], cwd=str(REPO), timeout=120)
            if r.returncode != 0:
                raise SystemExit(f"guest set-up failed: {r.stderr.decode()}")
            r = guest.run([python, __file__, "--inside", "--repeats", str(repeats)], cwd=str(REPO),
                          env={IN_GUEST_ENV: "1"}, timeout=3600)
            if r.returncode != 0:
                raise SystemExit(f"benchmark failed in the guest: {r.stderr.decode()[-2000:]}")
            return dict(json.loads(r.stdout))
    finally:
        Path(disk.split(",")[0]).unlink(missing_ok=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inside:
        print(json.dumps(measure(args.repeats)))
        return
    from harness.doctor import diagnose

    where = "native" if diagnose().native_ready else "uml"
    result = measure(args.repeats) if where == "native" else in_guest(args.repeats)
    result = {"where": where, "repeats": args.repeats, **result}  # type: ignore[dict-item]
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:22} {value}")


if __name__ == "__main__":
    main()
