"""Simulated sweeps for validating the report's statistics (scripts/validate_stats.py, tests).

A fixed population of heterogeneous tasks: per-task success rates are Beta-distributed; infra
errors are concentrated on a fifth of the tasks (most tasks have none, as in real sweeps). A
profile scales each task's infra rate and shifts its success on the logit scale; the true
per-profile rates are means over the whole population, so an interval over sampled tasks
targets them. Repeats of one task under one profile may be correlated (intra-cell correlation
ρ: the cell's rates are drawn from a Dirichlet around the task's rates), and K may differ by task.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.stats.table import CellCounts

POPULATION = 20_000
INFRA_SHARE = 0.2  # tasks that can have infra errors at all


@dataclass(frozen=True)
class Population:
    success: np.ndarray  # (POPULATION, profiles): P(pass) per task and profile
    infra: np.ndarray  # P(infra error)

    @property
    def true_success(self) -> np.ndarray:
        return np.asarray(self.success.mean(axis=0))

    @property
    def true_infra(self) -> np.ndarray:
        return np.asarray(self.infra.mean(axis=0))


def population(success_shift: list[float], infra_rate: list[float], seed: int = 1,
               base_success: tuple[float, float] = (1.5, 1.2),
               success_diff: list[float] | None = None) -> Population:
    """Profiles given by a logit shift of the conditional pass rate and a target mean infra rate.

    With ``success_diff`` (same length, proportions) the shifts are solved so that the true
    mean success difference of each profile from profile 0 is exactly that value.
    """
    rng = np.random.default_rng(seed)
    cond = rng.beta(*base_success, POPULATION)  # pass rate given no infra error
    prone = rng.random(POPULATION) < INFRA_SHARE
    shape = rng.beta(1.0, 2.0, POPULATION) * prone  # infra propensity, 0 on most tasks
    shape = shape / shape.mean()
    n_prof = len(infra_rate)
    infra = np.clip(np.outer(shape, infra_rate), 0.0, 0.95)
    logit = np.log(cond / (1 - cond))

    def succ(j: int, shift: float) -> np.ndarray:
        return np.asarray((1 - infra[:, j]) / (1 + np.exp(-(logit + shift))))

    shifts = list(success_shift)
    if success_diff is not None:
        base = succ(0, shifts[0]).mean()
        for j in range(1, n_prof):
            lo, hi = -8.0, 8.0
            for _ in range(80):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if succ(j, mid).mean() - base < success_diff[j] else (lo, mid)
            shifts[j] = (lo + hi) / 2
    success = np.column_stack([succ(j, shifts[j]) for j in range(n_prof)])
    return Population(success=success, infra=infra)


def sample(pop: Population, rng: np.random.Generator, n_tasks: int, repeats: int,
           rho: float = 0.0, unequal: bool = False, tasks: np.ndarray | None = None) -> CellCounts:
    """Counts for ``n_tasks`` tasks drawn from the population (or the given ``tasks``),
    ``repeats`` trials per cell (1..repeats, per task, when ``unequal``)."""
    idx = rng.integers(0, pop.success.shape[0], n_tasks) if tasks is None else tasks
    s, q = pop.success[idx], pop.infra[idx]
    n_prof = s.shape[1]
    k = (rng.integers(1, repeats + 1, n_tasks) if unequal else np.full(n_tasks, repeats))
    n = np.repeat(k[:, None], n_prof, axis=1)
    if rho > 0:
        conc = (1 - rho) / rho
        g = rng.standard_gamma(np.stack([s, q, 1 - s - q], -1).clip(1e-9) * conc)
        g /= g.sum(-1, keepdims=True)
        s, q = g[..., 0], g[..., 1]
    infra = rng.binomial(n, q)
    with np.errstate(invalid="ignore", divide="ignore"):
        cond = np.where(q < 1, s / (1 - q), 0.0)
    passed = rng.binomial(n - infra, np.clip(cond, 0.0, 1.0))
    return CellCounts(n=n.astype(np.int64), passed=passed.astype(np.int64), infra=infra.astype(np.int64))
