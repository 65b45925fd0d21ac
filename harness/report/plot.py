"""Success and infra-error rates against the limit, with their 95 % intervals (matplotlib,
the optional extra ``harness[plot]``; imported only when a plot is asked for)."""

from __future__ import annotations

import math
from pathlib import Path

from harness.plotting import pyplot_for
from harness.report.document import Report


def plot_report(report: Report, path: Path) -> None:
    plt = pyplot_for(path)
    doc = report.to_json()
    profiles = doc["profiles"]
    axis = doc["trend"]["axis"] or "memory"
    key = f"{axis}_multiplier"  # memory_, cpu_ or timeout_multiplier
    capped = sorted((p for p in profiles if p[key] is not None), key=lambda p: p[key])
    uncapped = [p for p in profiles if p[key] is None]
    xs = [math.log2(p[key]) for p in capped]
    right = (max(xs) if xs else 0.0) + 1.0
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, rate, ci, title in ((axes[0], "success_rate", "success_ci", "success (infra errors = failures)"),
                                (axes[1], "infra_error_rate", "infra_error_ci", "infra errors")):
        for group, x, style in ((capped, xs, "o-"),
                                (uncapped, [right + k * 0.3 for k in range(len(uncapped))], "s")):
            if not group:
                continue
            y = [100 * (p[rate] or 0.0) for p in group]
            lo = [max(0.0, yy - 100 * (p[ci][0] if p[ci][0] is not None else p[rate] or 0.0))
                  for yy, p in zip(y, group, strict=True)]
            hi = [max(0.0, 100 * (p[ci][1] if p[ci][1] is not None else p[rate] or 0.0) - yy)
                  for yy, p in zip(y, group, strict=True)]
            ax.errorbar(x, y, yerr=[lo, hi], fmt=style, capsize=4)
        ticks = xs + [right + k * 0.3 for k in range(len(uncapped))]
        ax.set_xticks(ticks, [p["name"] for p in capped] + [p["name"] for p in uncapped])
        ax.set_xlabel(f"{axis} limit (log scale); baseline {doc['baseline']}")
        ax.set_ylabel("% of trials (mean over tasks), 95 % CI")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    sw = doc["sweep"]
    fig.suptitle(f"{sw['suite']}: {sw['n_trials']} trials, {sw['n_tasks']} tasks")
    fig.savefig(path)
    plt.close(fig)
