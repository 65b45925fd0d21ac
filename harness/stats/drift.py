"""Drift: success and infra errors by blocks of trial start time, and by host.

The test asks whether the group (time block, host) shifts outcomes *after* removing each
(task, profile) cell's mean, so that a sweep that ran 1x first and 5x last does not read
as drift. It is the partial F test of the group dummies in a linear probability model with
cell fixed effects, computed by Frisch–Waugh–Lovell (demean within cells, regress).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from harness.stats.table import INFRA_ERROR, PASSED


@dataclass
class GroupDrift:
    n: np.ndarray  # trials per group
    success_rate: np.ndarray
    infra_rate: np.ndarray
    success_p: float  # NaN when untestable (see note)
    infra_p: float
    note: str | None = None


def time_blocks(started: np.ndarray, n_blocks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Equal-count blocks of trials ordered by start time: (block per trial, −1 when the time
    is unknown; block start; block end) with starts/ends in the units of ``started``."""
    started = np.asarray(started, dtype=float)
    block = np.full(started.shape, -1, dtype=np.int64)
    known = np.flatnonzero(np.isfinite(started))
    if known.size == 0 or n_blocks < 1:
        return block, np.empty(0), np.empty(0)
    order = known[np.argsort(started[known], kind="stable")]
    block[order] = np.arange(order.size) * n_blocks // order.size
    starts = np.array([started[order[i * order.size // n_blocks]] for i in range(n_blocks)])
    ends = np.array([started[order[(i + 1) * order.size // n_blocks - 1]] for i in range(n_blocks)])
    return block, starts, ends


def group_drift(group: np.ndarray, n_groups: int, category: np.ndarray, cell: np.ndarray) -> GroupDrift:
    """Rates per group and the within-cell F tests; trials with group −1 are left out."""
    keep = group >= 0
    g, cat, c = group[keep], category[keep], cell[keep]
    n = np.bincount(g, minlength=n_groups)
    passed = np.bincount(g, weights=cat == PASSED, minlength=n_groups)
    infra = np.bincount(g, weights=cat == INFRA_ERROR, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        sr, ir = passed / n, infra / n
    _, c = np.unique(c, return_inverse=True)
    ps, note = _within_cell_f((cat == PASSED).astype(float), g, n_groups, c)
    pi, _ = _within_cell_f((cat == INFRA_ERROR).astype(float), g, n_groups, c)
    return GroupDrift(n, sr, ir, ps, pi, note)


def _demean(values: np.ndarray, cell: np.ndarray, counts: np.ndarray) -> np.ndarray:
    demeaned: np.ndarray = values - (np.bincount(cell, weights=values, minlength=counts.size) / counts)[cell]
    return demeaned


def _within_cell_f(y: np.ndarray, group: np.ndarray, n_groups: int, cell: np.ndarray
                   ) -> tuple[float, str | None]:
    present = np.unique(group)
    if present.size < 2:
        return float("nan"), "fewer than two groups with trials"
    counts = np.bincount(cell).astype(float)
    yt = _demean(y, cell, counts)
    ssr_red = float(yt @ yt)
    if ssr_red == 0.0:
        return 1.0, "no variation within (task, profile) cells"
    x = np.column_stack([_demean((group == k).astype(float), cell, counts) for k in present[1:]])
    beta, _, rank, _ = np.linalg.lstsq(x, yt, rcond=1e-9)
    if rank == 0:
        return float("nan"), "groups coincide with (task, profile) cells: drift cannot be separated"
    resid = yt - x @ beta
    ssr_full = float(resid @ resid)
    df2 = y.size - counts.size - rank
    if df2 <= 0:
        return float("nan"), "too few trials per (task, profile) cell to test"
    if ssr_full <= 1e-12 * ssr_red:
        return 0.0, None
    f = ((ssr_red - ssr_full) / rank) / (ssr_full / df2)
    return float(stats.f.sf(f, rank, df2)), None
