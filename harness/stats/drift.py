"""Drift: success and infra errors by blocks of trial start time, and by host.

The test asks whether the group (time block, host) shifts outcomes *after* removing each
(task, profile) cell's mean, so that a sweep that ran 1x first and 5x last does not read
as drift. It is the partial F test of the group dummies in a linear probability model with
cell fixed effects, computed by Frisch–Waugh–Lovell (demean within cells, regress); up to
PERMUTE_MAX_TRIALS trials its p-value comes from permuting the group labels within cells
(exact; the F reference was unreliable for sparse infra errors on few tasks).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from harness.stats.table import INFRA_ERROR, PASSED

# Up to this many trials the test is a within-cell permutation test (exact), above it the F
# test (whose reference distribution is then close).
PERMUTE_MAX_TRIALS = 5_000
PERMUTATIONS = 400


@dataclass(frozen=True)
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
    return np.asarray(values - (np.bincount(cell, weights=values, minlength=counts.size) / counts)[cell])


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
    if y.size <= PERMUTE_MAX_TRIALS:
        return _permutation_p(yt, group, present, cell, counts, ssr_red - ssr_full), None
    if ssr_full <= 1e-12 * ssr_red:
        return 0.0, None
    f = ((ssr_red - ssr_full) / rank) / (ssr_full / df2)
    return float(stats.f.sf(f, rank, df2)), None


def _permutation_p(yt: np.ndarray, group: np.ndarray, present: np.ndarray, cell: np.ndarray,
                   counts: np.ndarray, observed: float) -> float:
    """P-value of the explained sum of squares (monotone in F) against PERMUTATIONS seeded
    shuffles of the outcomes within each (task, profile) cell: under no drift a cell's trials
    are exchangeable over time and hosts, so this is exact whatever the outcome's distribution
    (sparse 0/1 infra errors made the F reference unreliable at small n).

    Sparse infra errors make many shuffles tie with the observed sum of squares (most cells
    have no variation), and counting ties as "at least as extreme" held the size at 2.9 % on
    30 tasks × 3: ties count half, as in the mid-p the sign-flip test uses (Lancaster 1961;
    the observed arrangement is itself one tie, hence the ½ in place of Phipson & Smyth's 1).

    Shuffling within cells keeps every cell's group counts, hence X'X; only X'y changes, so
    each shuffle costs one matrix product (all shuffles at once: argsort of cell + U(0, 1))."""
    x = np.column_stack([_demean((group == k).astype(float), cell, counts) for k in present[1:]])
    m = np.linalg.pinv(x.T @ x)
    rng = np.random.default_rng(0xD41F7)
    tol = 1e-9 * max(observed, 1e-300)
    greater = ties = 0
    for start in range(0, PERMUTATIONS, 100):
        b = min(100, PERMUTATIONS - start)
        perms = np.argsort(cell[None, :] + rng.random((b, cell.size)), axis=1)
        sx = yt[perms] @ x  # (b, groups − 1): X'y of each shuffle
        explained = np.einsum("bi,ij,bj->b", sx, m, sx)
        greater += int((explained > observed + tol).sum())
        ties += int((np.abs(explained - observed) <= tol).sum())
    return (0.5 + greater + 0.5 * ties) / (1 + PERMUTATIONS)
