"""Report sections beside the comparisons: trend, tasks that flip, drift, set-up."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from harness.report.document import (
    Drift,
    DriftBlock,
    FlippingTask,
    Flips,
    HostRow,
    Hosts,
    Setup,
    SweepInfo,
    TimeBlocks,
    Trend,
    TrendKey,
)
from harness.report.load import Sweep
from harness.stats.drift import group_drift, time_blocks
from harness.stats.table import CellCounts, TrialTable
from harness.stats.trend import cochran_armitage, page_l, slope_test

MAX_FLIPPING = 50
MIN_DRIFT_TRIALS = 40


def sweep_info(sweep: Sweep, n_trials: int, n_tasks: int) -> SweepInfo:
    suite = sweep.manifest.suite
    return SweepInfo(tuple(sorted({x.sweep_id for x in sweep.manifests})), suite.name, suite.checksum,
                     tuple(str(d) for d in sweep.dirs), n_trials, n_tasks, tuple(sweep.table.host_names))


def axis_values(table: TrialTable) -> tuple[str | None, list[float | None]]:
    """The factor the profiles vary (memory, else CPU, else the agent timeout) and its values."""
    for name, vals in (("memory", table.memory_multiplier), ("cpu", table.cpu_multiplier),
                       ("timeout", table.timeout_multiplier or [])):
        if len({v for v in vals if v is not None}) >= 2:
            return name, vals
    return None, table.memory_multiplier


def band_multipliers(table: TrialTable, b: int) -> tuple[str | None, list[float | None]]:
    """The swept factor and its values for the band against baseline ``b``. Along a limit the
    timeout is held at the baseline's: other profiles get None (they are no step along it).
    (Along the timeout, memory and CPU are fixed already: `axis_values` picks it only then.)"""
    axis, vals = axis_values(table)
    timeouts = table.timeout_multiplier
    if axis == "timeout" or not timeouts:
        return axis, vals
    return axis, [v if timeouts[j] == timeouts[b] else None for j, v in enumerate(vals)]


def ordered_profiles(table: TrialTable) -> tuple[str | None, list[int], list[int]]:
    """(axis, profiles with a multiplier ordered by it, profiles without one)."""
    axis, vals = axis_values(table)
    other = table.cpu_multiplier if axis == "memory" else table.memory_multiplier
    idx = [j for j, v in enumerate(vals) if v is not None]
    timeouts = table.timeout_multiplier
    if axis in ("memory", "cpu") and timeouts and idx:  # hold the timeout fixed along a limit
        fixed = max(set(timeouts), key=lambda t: (sum(timeouts[j] == t for j in idx), t == 1.0))
        idx = [j for j in idx if timeouts[j] == fixed]
    idx.sort(key=lambda j: (vals[j], other[j] if other[j] is not None else np.inf))
    return axis, idx, [j for j, v in enumerate(vals) if v is None]


def trend(counts: CellCounts, table: TrialTable) -> Trend:
    axis, idx, left_out = ordered_profiles(table)
    names = table.profile_names
    order = tuple(names[j] for j in idx)
    uncapped = ("left out of the trend (no multiplier): " + ", ".join(names[j] for j in left_out)
                if left_out else "none in this sweep")
    scores = "log2 of the multiplier"
    if axis is None or len(idx) < 2:
        return Trend(axis, order, uncapped, scores, None, None,
                     "fewer than two profiles with distinct multipliers: no trend test")
    vals = axis_values(table)[1]
    x = np.log2(np.array([vals[j] for j in idx], dtype=float))
    n_tr = counts.n[:, idx].sum(0)
    keys = []
    for rates, events, sign in ((counts.success_rates(), counts.passed, 1.0),
                                (counts.infra_rates(), counts.infra, -1.0)):
        m = rates[:, idx]
        page = page_l(sign * m)
        slope = slope_test(m, x)
        ca = cochran_armitage(events[:, idx].sum(0), n_tr, x)
        keys.append(TrendKey(
            page_L=None if page is None else page.L, page_p=None if page is None else page.p,
            page_method=None if page is None else page.method,
            page_alternative="rises with the limit" if sign > 0 else "falls with the limit",
            page_note=None if page else "Page's L needs 3 ordered profiles and 2 complete tasks",
            slope_per_doubling=None if slope is None else slope.mean_slope_per_doubling,
            slope_se=None if slope is None else slope.se, slope_p=None if slope is None else slope.p,
            slope_n_tasks=None if slope is None else slope.n_tasks,
            armitage_z=None if ca is None else ca.z, armitage_p=None if ca is None else ca.p,
            armitage_note="trial-level reference (independent trials): too optimistic with K > 1"))
    return Trend(axis, order, uncapped, scores, keys[0], keys[1], None)


def _labels(counts: CellCounts) -> np.ndarray:
    """Per (task, profile): 'infra errors' (≥ half infra), 'passes' (≥ half pass), 'fails', ''."""
    s, i = counts.success_rates(), counts.infra_rates()
    lab = np.full(s.shape, "fails", dtype=object)
    lab[s >= 0.5] = "passes"
    lab[i >= 0.5] = "infra errors"
    lab[counts.n == 0] = ""
    return lab


def flipping_tasks(counts: CellCounts, table: TrialTable) -> Flips:
    """Tasks whose success or infra-error rate moves by at least half between profiles."""
    _, idx, left_out = ordered_profiles(table)
    order = idx + left_out
    s, i = counts.success_rates()[:, order], counts.infra_rates()[:, order]
    with np.errstate(all="ignore"):
        spread = np.fmax(np.nanmax(s, 1) - np.nanmin(s, 1), np.nanmax(i, 1) - np.nanmin(i, 1))
    spread = np.where(np.isfinite(spread), spread, 0.0)
    flip = np.flatnonzero(spread >= 0.5)
    flip = flip[np.argsort(-spread[flip], kind="stable")]
    labels = _labels(counts)[:, order]
    names = [table.profile_names[j] for j in order]
    tasks = []
    for t in flip[:MAX_FLIPPING]:
        tasks.append(FlippingTask(
            table.task_names[t], _pattern(list(labels[t]), names), float(spread[t]),
            {n: float(v) for n, v in zip(names, s[t], strict=True) if np.isfinite(v)},
            {n: float(v) for n, v in zip(names, i[t], strict=True) if np.isfinite(v)}))
    k = int(np.median(counts.n[counts.n > 0])) if (counts.n > 0).any() else 0
    return Flips("success or infra-error rate differs by ≥ 0.5 between two profiles", int(flip.size),
                 len(tasks), tuple(tasks),
                 (f"with {k} trial(s) per task and profile, chance alone moves a task's rate by 0.5 "
                  "often: read flips as leads to inspect, and trust them where the pattern is "
                  "monotone in the limit") if k < 10 else None)


def _pattern(labels: list[str], names: list[str]) -> str:
    runs: list[tuple[str, int, int]] = []
    for k, lab in enumerate(labels):
        if not lab:
            continue
        if runs and runs[-1][0] == lab:
            runs[-1] = (lab, runs[-1][1], k)
        else:
            runs.append((lab, k, k))
    last = max((k for k, lab in enumerate(labels) if lab), default=-1)
    parts = []
    for n, (lab, a, b) in enumerate(runs):
        if n > 0 and b == last and b > a:
            parts.append(f"{lab} from {names[a]}")
        elif a == b:
            parts.append(f"{lab} at {names[a]}")
        else:
            parts.append(f"{lab} at {names[a]}–{names[b]}")
    return ", ".join(parts)


def _iso(t: float) -> str | None:
    return datetime.fromtimestamp(t, UTC).isoformat() if np.isfinite(t) else None


def drift(table: TrialTable) -> Drift:
    cell = table.task.astype(np.int64) * len(table.profile_names) + table.profile
    test = ("partial F test (a within-cell permutation test up to 5,000 trials) of the group in a "
            "linear probability model with (task, profile) "
            "fixed effects: outcome shifts beyond what the task and profile explain")
    blocks = hosts = None
    note = None
    known = int(np.isfinite(table.started).sum())
    if known >= MIN_DRIFT_TRIALS:
        n_blocks = int(min(5, known // 20))
        block, starts, ends = time_blocks(table.started, n_blocks)
        g = group_drift(block, n_blocks, table.category, cell)
        blocks = TimeBlocks(tuple(DriftBlock(_iso(a), _iso(e), int(n), float(sr), float(ir))
                                  for a, e, n, sr, ir in zip(starts, ends, g.n, g.success_rate,
                                                             g.infra_rate, strict=True)),
                            g.success_p, g.infra_p, g.note)
    else:
        note = f"fewer than {MIN_DRIFT_TRIALS} trials with a start time: no drift test"
    if len(table.host_names) > 1:
        g = group_drift(table.host.astype(np.int64), len(table.host_names), table.category, cell)
        hosts = Hosts(tuple(HostRow(h, int(n), float(sr), float(ir))
                            for h, n, sr, ir in zip(table.host_names, g.n, g.success_rate, g.infra_rate,
                                                    strict=True)),
                      g.success_p, g.infra_p, g.note)
    return Drift(test, blocks, hosts, note)


SETUP_KEYS = ("backend", "concurrency", "seed", "repeats", "harness_version", "python_version",
              "started_at", "finished_at", "shard")


def setup(sweep: Sweep) -> Setup:
    """What each manifest says was enforced (first directory in full, others where they differ)."""
    per_dir = []
    for d, m in zip(sweep.dirs, sweep.manifests, strict=True):
        doc = m.to_json()
        per_dir.append({"dir": str(d), **{k: doc[k] for k in SETUP_KEYS}, "host": doc["host"],
                        "sweep_id": m.sweep_id})
    m = sweep.manifest
    doc = m.to_json()
    return Setup(tuple(per_dir), doc["profiles"], m.cgroup_files, m.cgroup_fixed,
                 {"name": m.suite.name, "checksum": m.suite.checksum, "n_tasks": len(m.suite.tasks)})
