"""ω² and σ² for `harness power`, estimated from a pilot result directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import UsageError
from harness.report.load import load_dirs
from harness.stats.power import estimate_components
from harness.stats.table import CellCounts


def estimate_from_pilot(dirs: list[Path], baseline: str = "1x") -> dict[str, Any]:
    """Per profile against the baseline: ω² and σ² of success; the plan uses the largest ω²
    and the mean σ² (conservative), and the pilot's median repeats. ``dirs`` are read as one
    sweep (shards), as `harness report` reads them."""
    directory = ", ".join(map(str, dirs))
    sweep = load_dirs(list(dirs))
    t = sweep.table
    b = t.profile_index(baseline)
    if b is None:
        raise UsageError(f"baseline profile {baseline!r} is not in {directory} (profiles: "
                         f"{', '.join(t.profile_names)})", "give --baseline with one of those names")
    counts = CellCounts.from_table(t)
    pairs: list[dict[str, Any]] = []
    omegas: list[float] = []
    notes: set[str] = set()
    for j, name in enumerate(t.profile_names):
        if j == b:
            continue
        try:
            vc = estimate_components(counts.passed[:, j], counts.n[:, j], counts.passed[:, b], counts.n[:, b])
        except ValueError as e:
            raise UsageError(f"{directory}: {e} ({name} vs {baseline})",
                             "run a pilot with more tasks") from None
        omegas.append(vc.omega2)
        pairs.append({"profile": name, "omega2": vc.omega2, "sigma2": (vc.sigma2_a + vc.sigma2_b) / 2,
                      "n_tasks": vc.n_tasks})
        if vc.note:
            notes.add(vc.note)
    if not pairs:
        raise UsageError(f"{directory} has only the baseline profile", "a pilot needs two profiles")
    k = int(np.median(counts.n[counts.n > 0]))
    return {"omega2": max(omegas), "sigma2": float(np.mean([p["sigma2"] for p in pairs])),
            "repeats": k, "baseline": baseline, "pairs": pairs, "notes": sorted(notes)}
