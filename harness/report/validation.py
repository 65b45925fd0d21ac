"""Seeded simulation checks of the report's statistics (scripts/validate_stats.py prints them;
the test suite runs a fast subset). Each check returns the target, the observed rate and its
Monte Carlo standard error. Populations: `harness.stats.simulate` (Beta task rates, infra errors
on a fifth of the tasks, optional intra-cell correlation, optional unequal K)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from unittest import mock

import numpy as np

from harness.report import against
from harness.report.compare import compare_cells
from harness.report.power import power_plan
from harness.stats.clustered import clustered_rates, korn_graubard
from harness.stats.drift import group_drift
from harness.stats.equivalence import tost
from harness.stats.exact import TwoByTwo
from harness.stats.paired import holm, paired_difference, sign_flip_test
from harness.stats.power import estimate_components
from harness.stats.simulate import Population, population, sample
from harness.stats.table import INFRA_ERROR, PASSED, TASK_FAILURE
from harness.stats.trend import page_l

ALPHA = 0.05
BASE_INFRA, LOW_INFRA = 0.058, 0.021  # the article's 1x → 3x infra-error rates


@dataclass(frozen=True)
class Check:
    name: str
    target: str
    low: float  # pass when low ≤ observed ≤ high
    high: float
    observed: float
    mc_se: float
    sims: int
    why: str = ""  # what the simulation shows beside the rate (misses by side, attainable size)

    @property
    def ok(self) -> bool:
        return self.within(0.0)

    def within(self, ses: float) -> bool:
        """Inside the target widened by ``ses`` Monte Carlo standard errors (small runs)."""
        slack = ses * self.mc_se
        return bool(self.low - slack <= self.observed <= self.high + slack)

    def to_json(self) -> dict[str, object]:
        return {"check": self.name, "target": self.target, "low": float(self.low), "high": float(self.high),
                "observed": float(self.observed), "mc_se": float(self.mc_se), "sims": int(self.sims),
                "ok": self.ok, "why": self.why}


def _check(name: str, target: str, low: float, high: float, hits: float, sims: int, why: str = "") -> Check:
    p = hits / sims
    return Check(name, target, low, high, p, math.sqrt(max(p * (1 - p), 1e-12) / sims), sims, why)


@contextmanager
def _no_trial_reference() -> Iterator[None]:
    """The trial-level exact test and its conditional odds ratio (a reference the band and the
    primary family never use) cost most of a simulated report: skip them here."""
    nan = float("nan")
    stub = TwoByTwo("skipped", nan, nan, nan, nan, nan, "skipped")
    with mock.patch.object(against, "compare_counts", lambda *a, **k: stub):
        yield


SIZE = ("5 ± 1 %", 0.04, 0.06)
COVER = ("95 ± 1.5 %", 0.935, 0.965)
AT_MOST_5 = ("≤ 5 %", 0.0, 0.05)


def _pop(infra: list[float], shift: list[float] | None = None, diff: list[float] | None = None) -> Population:
    return population(shift or [0.0] * len(infra), infra, seed=1, success_diff=diff)


def success_size(sims: int, n: int, k: int, rho: float, seed: int) -> Check:
    pop, rng, hits = _pop([BASE_INFRA, BASE_INFRA]), np.random.default_rng(seed), 0
    for _ in range(sims):
        c = sample(pop, rng, n, k, rho)
        s = c.success_rates()
        hits += paired_difference(s[:, 1], s[:, 0], ALPHA, k == 1).p < ALPHA
    test = "mid-p McNemar" if k == 1 else "paired t"
    return _check(f"size, success {test}, {n} tasks × {k}, ρ={rho:g}", *SIZE, hits, sims)


def infra_size(sims: int, n: int, k: int, rho: float, seed: int) -> Check:
    """The sign-flip test's size, and the most any exact test could have here: given which tasks
    differ (m of them), a test valid under the sign-flip null rejects at most ⌊α·2^m⌋ of the 2^m
    equally likely sign patterns; the mean of that over the simulated sweeps is the ceiling.
    Where it is below the target's floor (few tasks carry infra errors) no such test reaches
    5 ± 1 %, and the check asks for the ceiling at least and 6 % at most."""
    pop, rng, hits = _pop([BASE_INFRA, BASE_INFRA]), np.random.default_rng(seed), 0
    ceiling = 0.0
    for _ in range(sims):
        i = sample(pop, rng, n, k, rho).infra_rates()
        r = sign_flip_test(i[:, 1], i[:, 0])
        hits += r.p < ALPHA
        ceiling += math.floor(ALPHA * 2.0**r.n_differ) / 2.0**r.n_differ if r.n_differ < 60 else ALPHA
    ceiling /= sims
    name = f"size, infra sign-flip mid-p (headline), {n} tasks × {k}, ρ={rho:g}"
    why = f"ceiling for any exact test given the differing tasks: {ceiling * 100:.2f} %"
    if ceiling >= SIZE[1]:
        return _check(name, *SIZE, hits, sims, why)
    return _check(name, f"{ceiling * 100:.1f}–6 %", ceiling, SIZE[2], hits, sims,
                  why + " (5 ± 1 % is out of reach at this sparsity)")


def coverage(sims: int, n: int, k: int, rho: float, seed: int, what: str, unequal: bool = False) -> Check:
    """what: success | infra | infra_diff (paired, 5.8 % → 2.1 %) | success_diff. The misses are
    counted by side: for infra errors the upper one (truth above the interval) is the one that
    understates them. Sweeps with no infra error, or a single one, all give one interval each
    (the per-task rates are the same up to task order): where they are common, coverage jumps
    by their share as that interval's end crosses the truth, and the line says so."""
    pop = _pop([BASE_INFRA, LOW_INFRA], shift=[0.0, 0.3])
    rng, below, above = np.random.default_rng(seed), 0, 0
    atoms = {0: [0, 0.0], 1: [0, 0.0]}  # infra errors in the sweep → [sweeps, interval's upper end]
    ts, ti = pop.true_success, pop.true_infra
    for _ in range(sims):
        c = sample(pop, rng, n, k, rho, unequal)
        if what == "success":
            e = clustered_rates(c.success_rates()[:, :1])
            truth, lo, hi = ts[0], e.ci_low[0], e.ci_high[0]
        elif what == "infra":
            e = korn_graubard(c.infra_rates()[:, :1], c.n[:, :1])
            truth, lo, hi = ti[0], e.ci_low[0], e.ci_high[0]
            atom = atoms.get(int(c.infra[:, 0].sum()))
            if atom is not None:
                atom[0], atom[1] = atom[0] + 1, max(atom[1], float(hi))
        elif what == "infra_diff":
            i = c.infra_rates()
            truth = ti[1] - ti[0]
            lo, hi = against.infra_interval(i[:, 1], i[:, 0], c.n[:, 1], c.n[:, 0], ALPHA)
        else:
            s = c.success_rates()
            r = paired_difference(s[:, 1], s[:, 0], ALPHA)
            truth, lo, hi = ts[1] - ts[0], r.ci_low, r.ci_high
        below += truth < lo
        above += truth > hi
    tag = ", unequal K" if unequal else ""
    why = f"truth below the interval {below / sims * 100:.1f} %, above it {above / sims * 100:.1f} %"
    common = [(e, a) for e, a in atoms.items() if a[0] >= 0.01 * sims]
    if common and not unequal:
        why += "; sweeps with " + ", ".join(
            f"{'no' if e == 0 else 'one'} infra error: {a[0] / sims * 100:.1f} % (interval up to "
            f"{a[1] * 100:.2f} %)" for e, a in common) + f", true {ti[0] * 100:.2f} %"
    name = f"coverage, {what}, {n} tasks × {k}, ρ={rho:g}{tag}"
    return _check(name, *COVER, sims - below - above, sims, why)


def tost_size(sims: int, n: int, k: int, margin: float, seed: int) -> Check:
    pop = _pop([BASE_INFRA, BASE_INFRA], diff=[0.0, -margin])
    rng, hits = np.random.default_rng(seed), 0
    for _ in range(sims):
        s = sample(pop, rng, n, k).success_rates()
        hits += tost(paired_difference(s[:, 1], s[:, 0], ALPHA), margin, ALPHA).equivalent
    return _check(f"TOST size at the margin ({margin * 100:g} pts), {n} tasks × {k}", *SIZE, hits, sims)


MULTS = [1.0, 1.5, 2.0, 3.0, 5.0]
NAMES = ["1x", "1.5x", "2x", "3x", "5x"]


def _band_recommends(pop: Population, sims: int, n: int, k: int, margin: float, seed: int) -> int:
    """In how many of ``sims`` sweeps drawn from ``pop`` the band recommends a limit."""
    rng, hits = np.random.default_rng(seed), 0
    with _no_trial_reference():
        for _ in range(sims):
            c = sample(pop, rng, n, k)
            comps = against.comparisons(c, NAMES, 0, margin, ALPHA, False)
            rec = against.recommendation(comps, c, NAMES, list(MULTS), 0, margin, ALPHA)
            hits += rec.verdict == "recommended"
    return hits


def false_band(sims: int, n: int, k: int, margin: float, seed: int) -> Check:
    """Every capped profile's success exactly −margin from 1x, infra errors truly lower: any
    recommendation is false."""
    infra = [BASE_INFRA] + [LOW_INFRA] * 4
    pop = _pop(infra, diff=[0.0] + [-margin] * 4)
    hits = _band_recommends(pop, sims, n, k, margin, seed)
    return _check(f"false band, {n} tasks × {k}, margin {margin * 100:g} pts, 4 candidates", *AT_MOST_5,
                  hits, sims)


def family_error(sims: int, n: int, k: int, seed: int) -> Check:
    """Global null over five profiles: any primary test Holm-significant."""
    pop = _pop([BASE_INFRA] * 5)
    rng, hits = np.random.default_rng(seed), 0
    with _no_trial_reference():
        for _ in range(sims):
            c = sample(pop, rng, n, k)
            comps = against.comparisons(c, NAMES, 0, 0.03, ALPHA, False)
            hits += any(x.success_p_holm < ALPHA or x.infra_p_paired_holm < ALPHA for x in comps)
    return _check(f"primary family error, global null, {n} tasks × {k}, 8 tests", *AT_MOST_5, hits, sims)


def page_size(sims: int, n: int, k: int, key: str, seed: int) -> Check:
    pop = _pop([BASE_INFRA] * 5)
    rng, hits = np.random.default_rng(seed), 0
    for _ in range(sims):
        c = sample(pop, rng, n, k)
        m = c.success_rates() if key == "success" else -c.infra_rates()
        r = page_l(m)
        hits += r is not None and r.p < ALPHA
    return _check(f"size, Page's L ({key}), {n} tasks × {k}, 5 levels", *SIZE, hits, sims)


def drift_size(sims: int, n: int, k: int, key: str, seed: int) -> Check:
    """No drift: trials in random order, five equal-count time blocks."""
    pop = _pop([BASE_INFRA, LOW_INFRA])
    rng, hits = np.random.default_rng(seed), 0
    for _ in range(sims):
        c = sample(pop, rng, n, k)
        cell = np.repeat(np.arange(c.n.size), c.n.ravel())
        cat = np.concatenate([np.repeat([PASSED, INFRA_ERROR, TASK_FAILURE], [p, i, f]) for p, i, f in
                              zip(c.passed.ravel(), c.infra.ravel(), c.failed.ravel(), strict=True)])
        order = rng.permutation(cat.size)
        block = np.empty(cat.size, dtype=np.int64)
        block[order] = np.arange(cat.size) * 5 // cat.size
        g = group_drift(block, 5, cat.astype(np.int8), cell)
        p = g.success_p if key == "success" else g.infra_p
        hits += np.isfinite(p) and p < ALPHA
    return _check(f"size, drift within-cell permutation ({key}), {n} tasks × {k}, 5 blocks", *SIZE,
                  hits, sims)


def omega_bias(sims: int, n: int, seed: int) -> Check:
    """ω² estimate / truth with K from 1 to 10 by task (target 1 ± 0.15; reported as a ratio).
    Per-task rates: p_A ~ Beta(2, 2), p_B = p_A + N(0, 0.15²) clipped to [0.02, 0.98]."""
    rng, est = np.random.default_rng(seed), []
    big_a = rng.beta(2, 2, 200_000)
    truth = float(np.var(big_a - np.clip(big_a + rng.normal(0, 0.15, big_a.size), 0.02, 0.98)))
    for _ in range(sims):
        pa = rng.beta(2, 2, n)
        pb = np.clip(pa + rng.normal(0, 0.15, n), 0.02, 0.98)
        k = rng.integers(1, 11, n)
        ea, eb = rng.binomial(k, pa), rng.binomial(k, pb)
        est.append(estimate_components(ea, k, eb, k).omega2)
    r = float(np.mean(est)) / truth
    return Check(f"ω² mean estimate / truth, {n} tasks, K 1–10 by task", "1 ± 0.15", 0.85, 1.15, r,
                 float(np.std(est) / np.sqrt(sims) / truth), sims)


def plan_power(sims: int, delta: float, omega2: float, base: float, k: int, family: int, seed: int,
               normal: bool = False) -> Check:
    """Per-task rates A/B = base ± (δ/2 + u), u = ±√ω²/2: `harness power` with the true σ²; the
    report's rule: paired t, Holm over ``family`` tests, the others true nulls (uniform p)."""
    u = math.sqrt(omega2) / 2
    pa = np.array([base + delta / 2 + u, base + delta / 2 - u])
    pb = np.array([base - delta / 2 - u, base - delta / 2 + u])
    sigma2 = float(np.mean(np.concatenate([pa * (1 - pa), pb * (1 - pb)])))
    if normal:
        sigma2 = 0.0
    plan = power_plan(omega2, sigma2, None, delta, k, None, ALPHA, 0.8, family, [], "1x")
    n = int(plan["tasks_needed"])
    rng, hits = np.random.default_rng(seed), 0
    for _ in range(sims):
        side = rng.integers(0, 2, n)
        if normal:
            d = delta + rng.normal(0.0, math.sqrt(omega2), n)
        else:
            d = (rng.binomial(k, pa[side]) - rng.binomial(k, pb[side])) / k
        r = paired_difference(d, np.zeros(n), ALPHA)
        ps = np.concatenate([[r.p], rng.random(family - 1)])
        hits += holm(ps)[0] < ALPHA
    kind = "normal d, n small" if normal else f"binary, K={k}"
    # n is whole: at small n the power at the printed n can exceed 80 % by a step; the target is
    # the noncentral-t power at that n (≥ 80 %), ± 2 points
    want = float(plan["power_at_tasks_needed"])
    return _check(f"power at printed n={n} (δ={delta * 100:g} pts, {kind}, family {family})",
                  f"{want * 100:.1f} ± 2 %", want - 0.02, want + 0.02, hits, sims)


def readme_power(sims: int, seed: int) -> Check:
    """README's example: `harness power --omega2 0.1111 --base-rate 0.5 --delta 3` (K = 1,
    family 10), run on single binary trials whose per-task rates give ω² = 1/9 around 0.5:
    σ² = p(1 − p) is an upper bound there, so the power delivered is at least 80 %."""
    delta, omega2 = 0.03, 0.1111
    plan = power_plan(omega2, None, 0.5, delta, 1, None, ALPHA, 0.8, None, [], "1x")
    n = int(plan["tasks_needed"])
    u = math.sqrt(omega2) / 2
    pa = np.array([0.5 + delta / 2 + u, 0.5 + delta / 2 - u])
    pb = np.array([0.5 - delta / 2 - u, 0.5 - delta / 2 + u])
    rng, hits = np.random.default_rng(seed), 0
    for _ in range(sims):
        side = rng.integers(0, 2, n)
        d = rng.binomial(1, pa[side]) - rng.binomial(1, pb[side]).astype(float)
        r = paired_difference(d, np.zeros(n), ALPHA, single_trial=True)
        hits += holm(np.concatenate([[r.p], rng.random(plan["family"] - 1)]))[0] < ALPHA
    return _check(f"power of README's `harness power` example, n={n} (binary, K=1, family 10)", "≥ 80 %",
                  0.8, 1.0, hits, sims)


def compare_exits(sims: int, n: int, k: int, seed: int, margin: float = 0.03) -> list[Check]:
    """Two sweeps of the same truth: how often compare exits 0 / 1 / 3."""
    pop = _pop([BASE_INFRA, LOW_INFRA, LOW_INFRA], shift=[0.0, 0.0, 0.3])
    rng = np.random.default_rng(seed)
    counts = {"reproduced": 0, "different": 0, "inconclusive": 0}
    for _ in range(sims):
        tasks = rng.integers(0, pop.success.shape[0], n)  # the same tasks, fresh trials
        a, b = sample(pop, rng, n, k, tasks=tasks), sample(pop, rng, n, k, tasks=tasks)
        _, status = compare_cells(a, b, ["1x", "3x", "uncapped"], margin, ALPHA)
        counts[status] += 1
    return [_check(f"compare same truth, {n} tasks × {k}: exit 1 (different)", *AT_MOST_5,
                   counts["different"], sims),
            _check(f"compare same truth, {n} tasks × {k}: exit 0 (reproduced), ±{margin * 100:g} pts",
                   "reported", 0.0, 1.0, counts["reproduced"], sims)]


def band_power(sims: int, n: int, k: int, margin: float, seed: int) -> Check:
    """Success flat at every limit, infra errors 5.8 % → 2.1 % from 2x: how often the band
    recommends (power: no target), at a size the capacity line says can settle it."""
    infra = [BASE_INFRA, 0.04, LOW_INFRA, LOW_INFRA, LOW_INFRA]
    pop = _pop(infra, diff=[0.0] * 5)
    hits = _band_recommends(pop, sims, n, k, margin, seed)
    return _check(f"band recommends, success flat, {n} × {k}, ±{margin * 100:g} pts (power)", "reported",
                  0.0, 1.0, hits, sims)


def band_article(sims: int, seed: int) -> Check:
    """The article-like sweep: 89 tasks × 3, infra 5.8 % → 2.1 %, success flat to 3x (the
    default margin): how often the band recommends (no target: what this n can settle)."""
    infra = [BASE_INFRA, 0.04, LOW_INFRA, LOW_INFRA, LOW_INFRA]
    pop = _pop(infra, diff=[0.0, 0.0, 0.0, 0.0, 0.0])
    rng, hits = np.random.default_rng(seed), 0
    with _no_trial_reference():
        for _ in range(sims):
            c = sample(pop, rng, 89, 3)
            comps = against.comparisons(c, NAMES, 0, 0.03, ALPHA, False)
            rec = against.recommendation(comps, c, NAMES, list(MULTS), 0, 0.03, ALPHA)
            hits += rec.verdict == "recommended"
    return _check("article-like 89 × 3, ±3 pts: band recommends (power, no target)", "reported", 0.0, 1.0,
                  hits, sims)


GRID_TASKS = (30, 40, 50, 60, 75, 89, 120, 200)


def coverage_grid(scale: float = 1.0) -> list[Callable[[], Check | list[Check]]]:
    """Infra-error coverage, per profile and paired, over 30–200 tasks, K 3 and 10, ρ 0 and 0.09.
    A count's coverage jumps as an interval end crosses the truth, so a method can meet the
    table at its fixed sizes and miss between them: this shows between."""
    sims, seed = max(50, int(1500 * scale)), 200
    out: list[Callable[[], Check | list[Check]]] = []
    for what in ("infra", "infra_diff"):
        for n in GRID_TASKS:
            for k in (3, 10):
                for rho in (0.0, 0.09):
                    seed += 1
                    out.append(functools.partial(coverage, sims, n, k, rho, seed, what))
    return out


def all_checks(scale: float = 1.0, quick: bool = False) -> list[Callable[[], Check | list[Check]]]:
    """The full table (``scale`` multiplies the simulation counts) or the fast subset."""
    def s(x: int) -> int:
        return max(50, int(x * scale))
    if quick:
        return [
            lambda: false_band(s(150), 227, 10, 0.05, 11),
            lambda: coverage(s(400), 89, 3, 0.0, 12, "infra"),
            lambda: coverage(s(1500), 30, 3, 0.0, 8, "infra"),
            lambda: infra_size(s(600), 89, 3, 0.09, 13),
            lambda: page_size(s(600), 89, 3, "success", 14),
            lambda: plan_power(s(600), 0.10, 0.04, 0.5, 1, 10, 15),
            lambda: omega_bias(s(200), 200, 16),
        ]
    return [
        lambda: success_size(s(4000), 30, 3, 0.0, 1),
        lambda: success_size(s(4000), 89, 3, 0.09, 2),
        lambda: success_size(s(4000), 89, 1, 0.0, 3),
        lambda: infra_size(s(4000), 30, 3, 0.0, 4),
        lambda: infra_size(s(4000), 89, 3, 0.09, 5),
        lambda: coverage(s(3000), 30, 3, 0.0, 6, "success"),
        lambda: coverage(s(3000), 89, 3, 0.09, 7, "success"),
        lambda: coverage(s(3000), 30, 3, 0.0, 8, "infra"),
        lambda: coverage(s(3000), 89, 3, 0.0, 9, "infra"),
        lambda: coverage(s(3000), 89, 10, 0.09, 10, "infra"),
        lambda: coverage(s(3000), 200, 5, 0.0, 11, "infra", unequal=True),
        lambda: coverage(s(3000), 30, 3, 0.0, 12, "infra_diff"),
        lambda: coverage(s(3000), 89, 3, 0.0, 13, "infra_diff"),
        lambda: coverage(s(3000), 30, 10, 0.09, 33, "infra"),
        lambda: coverage(s(3000), 30, 10, 0.09, 34, "infra_diff"),
        lambda: coverage(s(3000), 89, 3, 0.0, 14, "success_diff"),
        lambda: tost_size(s(3000), 227, 10, 0.05, 15),
        lambda: tost_size(s(3000), 400, 10, 0.03, 29),
        lambda: false_band(s(1500), 227, 10, 0.05, 16),
        lambda: false_band(s(1000), 400, 10, 0.03, 17),
        lambda: family_error(s(1500), 89, 3, 18),
        lambda: page_size(s(4000), 89, 3, "success", 19),
        lambda: page_size(s(4000), 89, 3, "infra", 20),
        lambda: drift_size(s(2000), 30, 3, "success", 21),
        lambda: drift_size(s(2000), 30, 3, "infra", 22),
        lambda: omega_bias(s(1000), 200, 23),
        lambda: plan_power(s(4000), 0.10, 0.04, 0.5, 1, 10, 24),
        lambda: plan_power(s(4000), 0.05, 0.02, 0.5, 3, 10, 25),
        lambda: plan_power(s(4000), 0.15, 0.02, 0.5, 1, 1, 26, normal=True),
        lambda: readme_power(s(2000), 32),
        lambda: compare_exits(s(1000), 89, 3, 27),
        lambda: compare_exits(s(500), 400, 10, 30),
        lambda: band_article(s(500), 28),
        lambda: band_power(s(200), 400, 10, 0.03, 31),
    ]
