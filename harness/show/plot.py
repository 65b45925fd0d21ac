"""A trial's timeline as an image (matplotlib, the optional extra ``harness[plot]``)."""

from __future__ import annotations

import itertools
from pathlib import Path

from harness.plotting import pyplot_for
from harness.runner.timeline import Timeline
from harness.show.text import guarantee_bytes, limit_bytes

MIB = float(1 << 20)


def plot_timeline(tl: Timeline, path: Path, title: str) -> None:
    """Memory (sampled, and the peak so far) and CPUs used against time; limits as lines, kills marked."""
    plt = pyplot_for(path)
    fig, (ax, cx) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True, height_ratios=(3, 1))
    mem = [(t, m / MIB) for t, m in zip(tl.seconds, tl.memory, strict=True) if m is not None]
    peak = [(t, p / MIB) for t, p in zip(tl.seconds, tl.peak, strict=True) if p is not None]
    if mem:
        ax.plot(*zip(*mem, strict=True), marker=".", lw=1.2, label="memory.current (sampled)")
    if peak:
        ax.step(*zip(*peak, strict=True), where="post", lw=0.8, ls=":", color="grey",
                label="memory.peak so far")
    for value, style, label in ((limit_bytes(tl.limits, "memory.max"), "-", "kill threshold (memory.max)"),
                                (guarantee_bytes(tl.limits), "--", "guarantee (memory.low/min)")):
        if value is not None:
            ax.axhline(value / MIB, color="firebrick" if style == "-" else "seagreen", ls=style, lw=1,
                       label=label)
    for ev in tl.events:
        kind = ev.get("kind")
        if kind in ("oom_kill", "timeout"):
            t = ev["t_ms"] / 1000
            for a in (ax, cx):
                a.axvline(t, color="black" if kind == "oom_kill" else "darkorange", lw=1, ls="-.")
            ax.annotate("OOM kill" if kind == "oom_kill" else "timeout", (t, ax.get_ylim()[1]),
                        xytext=(3, -12), textcoords="offset points", fontsize=8)
    ax.set_ylabel("MiB")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    cpu = [(t, c) for t, c in zip(tl.seconds, tl.cpu_usec, strict=True) if c is not None]
    rates = [((t0 + t1) / 2, (c1 - c0) / 1e6 / (t1 - t0))
             for (t0, c0), (t1, c1) in itertools.pairwise(cpu) if t1 > t0]
    if rates:
        cx.plot(*zip(*rates, strict=True), lw=1, color="slateblue")
    cx.set_ylabel("CPUs used")
    cx.set_xlabel("seconds since the start")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
