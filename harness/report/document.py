"""The report document as frozen dataclasses; ``to_json()`` gives the documented JSON (README,
"Reports"). Field names are the JSON keys. Rates and differences are proportions (0.02 = 2
points) everywhere inside; only the CLI and the rendered text speak points. NaN never reaches
the JSON: an undefined number is null, and a ``note`` says why."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

Interval = tuple[float, float]


def clean(obj: Any) -> Any:
    """Dataclasses → dicts, numpy → Python, NaN/inf → None, recursively."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: clean(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return clean(obj.tolist())
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        v = float(obj)
        return v if math.isfinite(v) else None
    return obj


class JsonDoc:
    """Mixin: ``to_json()`` for a frozen dataclass."""

    def to_json(self) -> dict[str, Any]:
        out = clean(self)
        assert isinstance(out, dict)
        return out


@dataclass(frozen=True)
class ProfileRow(JsonDoc):
    name: str
    memory_multiplier: float | None
    cpu_multiplier: float | None
    timeout_multiplier: float | None  # of the agent timeout; None: no timeout
    n_tasks: int
    n_trials: int
    repeats: int
    repeats_min: int
    repeats_max: int
    success_rate: float
    success_se: float
    success_ci: Interval  # t on per-task rates
    success_trial_rate: float | None
    success_naive_se: float
    success_wilson_ci: Interval
    success_wilson_basis: str
    success_rate_excluding_infra: float
    success_excluding_infra_se: float
    success_excluding_infra_ci: Interval
    infra_error_rate: float
    infra_error_se: float
    infra_error_ci: Interval  # Korn–Graubard
    infra_error_ci_method: str
    infra_error_wilson_ci: Interval
    infra_errors: int
    infra_reasons: dict[str, int]
    task_failure_rate: float
    task_failure_se: float
    task_failure_ci: Interval
    note: str | None


@dataclass(frozen=True)
class Settle(JsonDoc):
    """Tasks or repeats that would settle an open question, under stated assumptions."""

    tasks: int | None
    repeats: int | None
    note: str
    profile: str | None = None
    omega2: float | None = None
    sigma2: tuple[float, float] | None = None
    power: float | None = None


@dataclass(frozen=True)
class Comparison(JsonDoc):
    profile: str
    baseline: str
    n_tasks: int
    # primary: success, paired t on per-task rates (mid-p McNemar at K = 1)
    success_diff: float
    success_diff_se: float
    success_diff_ci: Interval
    success_p: float
    success_p_holm: float  # Holm over the primary family
    success_test: str
    success_note: str | None
    success_tost_ci: Interval
    success_tost_p: float
    tost_equivalent: bool
    equivalence: str  # equivalent | different | inconclusive
    equivalent: bool
    # secondary
    success_excluding_infra_diff: float
    success_excluding_infra_diff_ci: Interval
    success_excluding_infra_p: float
    # primary: infra errors, task-level sign-flip permutation test; MOVER/Korn–Graubard interval
    infra_diff: float
    infra_diff_se: float
    infra_diff_ci: Interval
    infra_p_paired: float
    infra_p_paired_holm: float
    infra_paired_test: str
    infra_lower_p: float  # one-sided, task-level: the band's evidence
    # trial-level references (trials treated as independent): never a headline
    infra_p: float
    infra_test: str
    infra_odds_ratio: float
    infra_odds_ratio_ci: Interval
    infra_odds_ratio_method: str
    settle: Settle | None


@dataclass(frozen=True)
class Capacity(JsonDoc):
    """What this many tasks and repeats can and cannot settle (80 % power, the report's rules)."""

    n_tasks: int
    repeats: int
    family_size: int
    power: float
    success_variance: float  # mean over comparisons of Var(per-task success difference)
    infra_variance: float
    success_mdd: float  # smallest true success difference detected (two-sided t, Holm α/m)
    infra_mdd: float
    equivalence_margin_reachable: float  # smallest margin TOST shows at true difference 0
    tasks_for_margin: int | None  # tasks for TOST at the chosen margin (true difference 0)
    repeats_for_margin: int | None
    can_settle_margin: bool
    summary: tuple[str, ...]


@dataclass(frozen=True)
class Recommendation(JsonDoc):
    profile: str | None
    verdict: str  # recommended | none | inconclusive
    reason: str
    margin: float
    criterion: str
    tested: tuple[str, ...]
    settle: Settle | None


@dataclass(frozen=True)
class Overall(JsonDoc):
    test: str
    chi2: float
    dof: int
    p: float
    counts: dict[str, list[int]]
    note: str | None
    family: str = "secondary"


@dataclass(frozen=True)
class TrendKey(JsonDoc):
    page_L: float | None
    page_p: float | None
    page_method: str | None
    page_alternative: str
    page_note: str | None
    slope_per_doubling: float | None
    slope_se: float | None
    slope_p: float | None
    slope_n_tasks: int | None
    armitage_z: float | None
    armitage_p: float | None
    armitage_note: str


@dataclass(frozen=True)
class Trend(JsonDoc):
    axis: str | None
    order: tuple[str, ...]
    uncapped: str
    scores: str
    success: TrendKey | None
    infra_error: TrendKey | None
    note: str | None
    family: str = "secondary"


@dataclass(frozen=True)
class FlippingTask(JsonDoc):
    task: str
    pattern: str
    spread: float
    success_rate: dict[str, float]
    infra_error_rate: dict[str, float]


@dataclass(frozen=True)
class Flips(JsonDoc):
    rule: str
    count: int
    shown: int
    tasks: tuple[FlippingTask, ...]
    note: str | None


@dataclass(frozen=True)
class DriftBlock(JsonDoc):
    start: str | None
    end: str | None
    n_trials: int
    success_rate: float
    infra_error_rate: float


@dataclass(frozen=True)
class HostRow(JsonDoc):
    host: str
    n_trials: int
    success_rate: float
    infra_error_rate: float


@dataclass(frozen=True)
class TimeBlocks(JsonDoc):
    blocks: tuple[DriftBlock, ...]
    success_p: float
    infra_p: float
    note: str | None


@dataclass(frozen=True)
class Hosts(JsonDoc):
    hosts: tuple[HostRow, ...]
    success_p: float
    infra_p: float
    note: str | None


@dataclass(frozen=True)
class Drift(JsonDoc):
    test: str
    time_blocks: TimeBlocks | None
    hosts: Hosts | None
    note: str | None
    family: str = "secondary"


@dataclass(frozen=True)
class Setup(JsonDoc):
    """What the manifests say was enforced (their own types belong to the schema)."""

    runs: tuple[dict[str, Any], ...]
    profiles: Any
    cgroup_files: Any
    cgroup_fixed: Any
    suite: dict[str, Any]


@dataclass(frozen=True)
class SweepInfo(JsonDoc):
    sweep_ids: tuple[str, ...]
    suite: str | None
    suite_checksum: str | None
    dirs: tuple[str, ...]
    n_trials: int
    n_tasks: int
    hosts: tuple[str, ...]


@dataclass(frozen=True)
class Report(JsonDoc):
    sweep: SweepInfo
    baseline: str
    margin: float
    margin_points: float
    alpha: float
    capacity: Capacity | None
    family: dict[str, Any]
    profiles: tuple[ProfileRow, ...]
    comparisons: tuple[Comparison, ...]
    overall: Overall
    trend: Trend
    recommendation: Recommendation
    flipping_tasks: Flips
    drift: Drift
    setup: Setup
    notes: tuple[str, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class CompareRow(JsonDoc):
    profile: str
    n_tasks: int
    success_a: float | None
    success_b: float | None
    success_diff: float
    success_diff_ci: Interval
    success_p: float
    success_p_holm: float
    success_tost_ci: Interval
    success_tost_equivalent: bool
    success_test: str
    success_verdict: str
    infra_a: float | None
    infra_b: float | None
    infra_diff: float
    infra_diff_ci: Interval
    infra_p: float
    infra_p_holm: float
    infra_tost_ci: Interval
    infra_tost_equivalent: bool
    infra_test: str
    infra_verdict: str


@dataclass(frozen=True)
class CompareDoc(JsonDoc):
    a: tuple[str, ...]
    b: tuple[str, ...]
    manifest_diff: tuple[dict[str, Any], ...]
    margin: float
    margin_points: float
    alpha: float
    status: str
    exit_code: int
    capacity: tuple[str, ...]
    profiles: tuple[CompareRow, ...]
    n_tasks: int
    tasks_only_in_a: tuple[str, ...]
    tasks_only_in_b: tuple[str, ...]
    profiles_only_in_a: tuple[str, ...]
    profiles_only_in_b: tuple[str, ...]
    rule: str
    warnings: tuple[str, ...]
