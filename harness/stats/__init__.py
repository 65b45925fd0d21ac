"""Statistics for resource sweeps (see README, "Reports"): no I/O, numpy and scipy only.

Everything works from a `TrialTable` (integer-coded columns) and the per-task count
matrices `CellCounts` built from it once, so a million trials take well under a second.
Rates are proportions in [0, 1]; a margin of 2 points is 0.02 here.
"""

from harness.stats.table import CATEGORIES, CellCounts, TrialTable

__all__ = ["CATEGORIES", "CellCounts", "TrialTable"]
