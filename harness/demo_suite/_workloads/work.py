"""Workloads of the demo suite: real allocation and real computation, standard library only.

Run by the tasks' solution/solve.sh as ``$HARNESS_PYTHON work.py KIND [options]``; writes
its product into the working directory ($HARNESS_WORKDIR, else the current directory),
where tests/test.sh checks it. Per-trial variation comes from $HARNESS_TRIAL_SEED.
Imports stay minimal (no hashlib) to keep the interpreter small and quick to start.
"""

from __future__ import annotations

import os
import sys
import time

PAGE = 4096
MIB = 1 << 20
MASK64 = (1 << 64) - 1
# The sizes of the prime-counting problem; tests/test.sh of those tasks holds the answers.
PRIME_SIZES = tuple(range(44_000_000, 52_000_000, 1_000_000))


def rand01(seed: int, stream: int) -> float:
    """A uniform number in [0, 1) from the trial seed and a stream number (splitmix64)."""
    z = (seed * 0x9E3779B97F4A7C15 + (stream + 1) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return ((z ^ (z >> 31)) >> 11) / float(1 << 53)


def trial_seed() -> int:
    try:
        return int(os.environ.get("HARNESS_TRIAL_SEED", "0"))
    except ValueError:
        return 0


def out_path(name: str) -> str:
    return os.path.join(os.environ.get("HARNESS_WORKDIR") or os.getcwd(), name)


def anon_rss() -> int:
    """Bytes of anonymous memory this process holds now (8 MiB if /proc says nothing)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * MIB


def touch(n: int) -> bytearray:
    """n bytes of memory, every page written, so the kernel must really provide them."""
    buf = bytearray(n)
    buf[::PAGE] = b"\x01" * len(range(0, n, PAGE))
    return buf


def spike(spec_mb: float, low: float, high: float) -> None:
    """An install step: unpack into memory (a transient peak of low..high × spec in all),
    then build with little memory and write result.txt."""
    factor = low + (high - low) * rand01(trial_seed(), 1)
    extra = max(0, int(factor * spec_mb * MIB) - anon_rss())
    chunks, left = [], extra
    while left > 0:  # 4 MiB at a time, as an unpacker would grow its buffers
        chunks.append(touch(min(4 * MIB, left)))
        left -= 4 * MIB
    unpacked = sum(c[0] for c in chunks)
    del chunks  # the peak is over: large buffers go straight back to the kernel
    n = 200_000 + int(100_000 * rand01(trial_seed(), 2))
    total = sum(range(n + 1))
    with open(out_path("result.txt"), "w") as f:
        f.write(f"installed factor={factor:.2f} chunks={unpacked}\nsum n={n} total={total}\n")


def primes(strategy: str) -> None:
    """Count the primes below n, n picked by the seed: ``heavy`` sieves all n at once (n
    bytes), ``lean`` sieves segment by segment (well under 1 MiB)."""
    n = PRIME_SIZES[int(rand01(trial_seed(), 3) * len(PRIME_SIZES))]
    count = sieve_heavy(n) if strategy == "heavy" else sieve_lean(n)
    with open(out_path("answer.txt"), "w") as f:
        f.write(f"{n} {count}\n")


def sieve_heavy(n: int) -> int:
    """All of 0..n-1 in one table (n bytes), plus a zero template (n/6) to strike with."""
    if n < 3:
        return 0
    s = bytearray(b"\x00\x01") * ((n + 1) // 2)  # odd numbers are the candidates
    del s[n:]  # shrinks in place; concatenating would copy the whole table
    s[1], s[2] = 0, 1
    zeros = bytearray(len(range(9, n, 6)))  # a bytearray of the exact length is not copied
    for p in range(3, int(n**0.5) + 1, 2):
        if s[p]:
            del zeros[len(range(p * p, n, 2 * p)):]  # lengths only shrink as p grows
            s[p * p::2 * p] = zeros
    return s.count(1)


def sieve_lean(n: int, segment: int = 1 << 19) -> int:
    root = int(n**0.5) + 1
    small = bytearray(b"\x01") * (root + 1)
    small[0:2] = b"\x00\x00"
    for p in range(2, int(root**0.5) + 1):
        if small[p]:
            small[p * p::p] = bytes(len(range(p * p, root + 1, p)))
    base = [p for p in range(2, root + 1) if small[p]]
    zeros = memoryview(bytes(segment))
    count = 0
    for lo in range(0, n, segment):
        size = min(segment, n - lo)
        seg = bytearray(b"\x01") * size
        for p in base:
            if p * p >= lo + size:
                break
            start = max(p * p, -(-lo // p) * p) - lo
            seg[start::p] = zeros[:len(range(start, size, p))]
        if lo == 0:
            seg[0:2] = b"\x00\x00"
        count += seg.count(1)
    return count


def steady(flaky: float) -> None:
    """Little memory, a little arithmetic; with ``flaky`` > 0, that share of seeds slips."""
    n = 400_000 + int(200_000 * rand01(trial_seed(), 4))
    buf = touch(2 * MIB)
    total = sum(i * i for i in range(n + 1)) + buf[0] - 1
    if rand01(trial_seed(), 5) < flaky:
        total += 1  # the agent's off-by-one: a task failure, not an infra error
    with open(out_path("squares.txt"), "w") as f:
        f.write(f"{n} {total}\n")


def deadline(cpu_seconds: float, deadline_s: float) -> None:
    """Burn ``cpu_seconds`` (±15 % by seed) of this machine's CPU before ``deadline_s``
    of wall time pass. Work is counted in CPU time, which cpu.max throttling does not
    change, so the outcome depends on the CPU share the cgroup gets, not the CPU's speed."""
    need = cpu_seconds * (0.85 + 0.3 * rand01(trial_seed(), 6))
    wall0, cpu0 = time.perf_counter(), time.process_time()
    x, status = 1, "done"
    while time.process_time() - cpu0 < need:
        for i in range(20_000):
            x = (x * 6364136223846793005 + i) & MASK64
        if time.perf_counter() - wall0 > deadline_s:
            status = "missed"
            break
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    with open(out_path("deadline.txt"), "w") as f:
        f.write(f"status={status} wall={wall:.3f} cpu={cpu:.3f} need={need:.3f} "
                f"deadline={deadline_s} share={cpu / wall:.2f} x={x}\n")


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: work.py spike|heavy|lean|steady|flaky|deadline", file=sys.stderr)
        return 2
    kind, args = argv[0], [float(a) for a in argv[1:]]
    if kind == "spike":
        spike(*(args or [24, 1.6, 2.5]))
    elif kind in ("heavy", "lean"):
        primes(kind)
    elif kind == "steady":
        steady(0.0)
    elif kind == "flaky":
        steady(*(args or [0.2]))
    elif kind == "deadline":
        deadline(*(args or [0.7, 2.0]))
    else:
        print(f"work.py: unknown workload {kind!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
