"""`harness power`: the plan for a paired comparison, under the rule the report applies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.report.pilot import estimate_from_pilot
from harness.stats import power as pw

DEFAULT_FAMILY = 10  # the report's primary family with the six default profiles: 2 × 5


def power_plan(omega2: float | None, sigma2: float | None, base_rate: float | None, delta: float | None,
               repeats: int | None, n_tasks: int | None, alpha: float, power: float,
               family: int | None, pilot: list[Path], baseline: str) -> dict[str, Any]:
    """Tasks needed, minimum detectable effect and repeats needed (``delta`` a proportion).

    The numbers are for the paired t-test (noncentral t; Julious 2004) at Holm's first-step
    level α/m, m the report's primary family (2 × the profiles compared with the baseline),
    so that the printed n delivers the power under the adjustment the report applies."""
    if delta is None and n_tasks is None:
        raise UsageError("nothing to compute", "give --delta POINTS (tasks needed) or --tasks N "
                         "(minimum detectable effect), or both (repeats needed)")
    if n_tasks is not None and n_tasks < 2:
        raise UsageError(f"--tasks {n_tasks}: need at least 2 tasks", "give --tasks 2 or more")
    if sigma2 is not None and base_rate is not None:
        raise UsageError("--sigma2 and --base-rate both given", "give one: σ² itself, or the base rate "
                         "it is computed from")
    if base_rate is not None and not 0 < base_rate < 1:
        raise UsageError(f"--base-rate {base_rate:g}: must be between 0 and 1", "give e.g. --base-rate 0.5")
    doc: dict[str, Any] = {"alpha": alpha, "power": power, "two_sided": True, "source": "flags"}
    sigma_source = "--sigma2"
    if pilot:
        est = estimate_from_pilot(pilot, baseline)
        doc |= {"source": f"pilot {' '.join(map(str, pilot))}", "pilot": est}
        omega2 = est["omega2"] if omega2 is None else omega2
        if sigma2 is None and base_rate is None:
            sigma2, sigma_source = est["sigma2"], "pilot"
        repeats = repeats or est["repeats"]
        family = family or 2 * len(est["pairs"])
    if omega2 is None:
        raise UsageError("--omega2 is missing", "give --omega2 (e.g. 0.11) or --pilot DIR to estimate it")
    if sigma2 is None:
        if base_rate is None:
            raise UsageError("σ² (trial-to-trial variance within a task) is missing; leaving it out "
                             "plans for noiseless trials and prints too few tasks",
                             "give --base-rate P (σ² = P(1 − P), e.g. --base-rate 0.5 for 0.25), "
                             "--sigma2 S, or --pilot DIR")
        sigma2 = pw.bernoulli_sigma2(base_rate)
        sigma_source = f"--base-rate {base_rate:g}: σ² = p(1 − p), an upper bound"
    repeats = repeats or 1
    family = family or DEFAULT_FAMILY
    if omega2 < 0 or sigma2 < 0 or repeats < 1 or family < 1:
        raise UsageError("--omega2 and --sigma2 must be ≥ 0, --repeats and --family ≥ 1",
                         "fix the flag values")
    a_m = alpha / family
    v = pw.design_variance(omega2, sigma2, sigma2, repeats, repeats)
    doc |= {"omega2": omega2, "sigma2": sigma2, "sigma2_source": sigma_source, "repeats": repeats,
            "family": family, "alpha_per_test": a_m,
            "method": "paired t, noncentral t (Julious 2004), at Holm's first step α/m"}
    summary = [f"ω² = {omega2:.4g}, σ² = {sigma2:.4g} ({sigma_source}), K = {repeats}, α = {alpha:g} "
               f"two-sided over a family of {family} (α/m = {a_m:.3g}), power {power:.0%} "
               f"({doc['source']})"]
    if delta is not None:
        need = pw.t_tasks_needed(v, delta, a_m, power)
        doc |= {"delta": delta, "tasks_needed": need,
                "power_at_tasks_needed": pw.t_power(v, need, delta, a_m)}
        summary.append(f"tasks needed to detect {delta * 100:g} points: {need}")
    if n_tasks is not None:
        mde = pw.t_minimum_detectable(v, n_tasks, a_m, power)
        doc |= {"tasks": n_tasks, "minimum_detectable_effect": mde}
        summary.append(f"minimum detectable effect with {n_tasks} tasks: {mde * 100:.2f} points")
        if delta is not None:
            reps = pw.t_repeats_needed(omega2, sigma2, sigma2, n_tasks, delta, a_m, power)
            doc["repeats_needed"] = reps
            summary.append(f"repeats needed with {n_tasks} tasks for {delta * 100:g} points: "
                           + (str(reps) if reps else "none suffices (ω² alone needs more tasks)"))
    doc["summary"] = summary
    return doc
