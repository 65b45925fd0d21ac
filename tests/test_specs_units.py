"""Timeline policy, files and text chart; spec advice rules; overrides files; timeout profiles.

The kernel's side of these (real samples, real kills) is in test_kernel_specs.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers_results import DEFAULT_PROFILES, manifest, trial, write_sweep
from suites import write_task

from harness.advice.advise import Rule, advise, overrides_of, quantile
from harness.cli import main
from harness.demo_suite import demo_suite_path
from harness.errors import ResultsError, UsageError
from harness.report.build import report_for_dirs
from harness.report.render import render_text
from harness.runner import timeline
from harness.schema.settings import SweepSettings
from harness.show.text import render, summary
from harness.suite.parse import load_suite
from harness.suite.task import TaskSpec
from harness.sweep import overrides, shard_plan
from harness.sweep.profiles import Profile, load_sweep_file, parse_profiles

MIB = 1 << 20


# -- sampling policy and files -------------------------------------------------------------
def test_interval_is_dense_first_then_grows_and_doubles_while_flat() -> None:
    p = timeline.SamplePolicy()
    assert p.interval(0.0) == p.first and p.interval(1.0) == p.first
    assert p.interval(40.0) == pytest.approx(4.0)  # 10 % of the elapsed time
    assert p.interval(10_000.0) == p.longest
    assert p.interval(1.0, last=0.4, moved=False) == pytest.approx(0.8)
    assert p.interval(1.0, last=0.4, moved=True) == p.first
    assert p.interval(1.0, last=4.0, moved=False) == p.longest
    with pytest.raises(UsageError):
        timeline.SamplePolicy(first=0)
    assert timeline.policy_for(0) is None and timeline.policy_for(None) is None


def test_ten_minutes_of_moving_memory_is_a_few_hundred_samples_at_most() -> None:
    p, t, n = timeline.SamplePolicy(), 0.0, 0
    while t <= 600:
        n, t = n + 1, t + p.interval(t)
    assert 100 <= n <= 250


def _doc(kill_at_ms: int | None = 2000) -> dict:
    rows = [[t, m * MIB, m * MIB, t * 500, 0] for t, m in
            ((0, 0), (500, 10), (1000, 20), (1500, 30), (2000, 40), (2100, 0))]
    events = [{"t_ms": 2100, "kind": "exit"}]
    if kill_at_ms is not None:
        events.insert(0, {"t_ms": kill_at_ms, "kind": "oom_kill", "count": 1})
    return {"schema": 1, "started_at": "x", "t0_monotonic": 1.0, "policy": {},
            "columns": list(timeline.COLUMNS),
            "limits": {"memory.max": str(40 * MIB), "memory.low": str(20 * MIB), "memory.min": "0"},
            "memory_peak_bytes": 42 * MIB, "samples": rows, "events": events}


def test_timeline_file_round_trip_and_text_chart(tmp_path: Path) -> None:
    path = tmp_path / timeline.FILE_NAME
    timeline.write(path, _doc())
    tl = timeline.read(path)
    assert tl.max_sampled == 40 * MIB and tl.seconds[-1] == 2.1 and tl.memory_peak_bytes == 42 * MIB
    chart = render(tl, width=30, height=9).splitlines()
    kill_row = next(r for r in chart if "=" * 10 in r)
    guarantee_row = next(r for r in chart if "-" * 10 in r)
    assert chart.index(kill_row) < chart.index(guarantee_row)  # the limit is drawn above the guarantee
    assert "X" in chart[8] and chart[8].index("X") > 25  # the kill at 2.0 of 2.1 s, on the axis row
    facts = dict(summary(tl))
    assert "a spike fell between samples" in facts["memory.peak (of record)"]
    assert facts["oom_kill"] == "at 2.00 s"


def test_a_damaged_timeline_is_named(tmp_path: Path) -> None:
    path = tmp_path / "timeline.json"
    path.write_text('{"schema": 1, "columns": 3}')
    with pytest.raises(ResultsError, match="not a timeline file"):
        timeline.read(path)
    with pytest.raises(ResultsError, match="cannot read"):
        timeline.read(tmp_path / "none.json")


# -- advice --------------------------------------------------------------------------------
def rec(task: str, outcome: str, peak: int, killed: bool = False, declared: int = 32 * MIB,
        **kw: object) -> dict:
    return {"task": task, "outcome": outcome, "memory_peak_bytes": peak, "declared_memory_bytes": declared,
            "declared_cpus": 1.0, "oom_kill_source": "limit" if killed else None,
            "memory_events": {"oom_kill": int(killed)}, "timed_out": False, "cpu_usage_usec": 1_000_000,
            "wall_seconds": 2.0, "cpu_nr_periods": 10, "cpu_nr_throttled": 0, **kw}


def test_quantile_is_nearest_rank() -> None:
    assert quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9) == 9
    assert quantile([5, 1, 3], 0.9) == 5 and quantile([7], 0.5) == 7


def test_spiky_task_is_flagged_and_its_guarantee_covers_the_passing_peaks() -> None:
    recs = [rec("spike", "infra_error", 32 * MIB, killed=True) for _ in range(3)]
    recs += [rec("spike", "passed", p * MIB) for p in (50, 60, 58)]
    recs += [rec("calm", "passed", 3 * MIB, declared=256 * MIB) for _ in range(4)]
    recs += [rec("never", "infra_error", 32 * MIB, killed=True) for _ in range(2)]
    rule = Rule()
    out = {a.task: a for a in advise(recs, rule)}
    s = out["spike"]
    assert s.n_oom_killed == 3 and s.n_lower_bound == 3 and s.lower_bound_max == 32 * MIB
    assert s.peak_max == 60 * MIB and s.peak_median == 58 * MIB
    assert s.guarantee_bytes == 66 * MIB  # p90 of 50, 58, 60 is 60; + 10 %, rounded up to a MiB
    assert s.kill_threshold_bytes == 3 * 66 * MIB and "memory above spec" in s.flags
    assert s.cpus == 0.5  # 1 CPU-second over 2 s, rounded up to a quarter
    c = out["calm"]
    assert "memory far below spec" in c.flags and c.guarantee_bytes == 4 * MIB
    n = out["never"]
    assert n.guarantee_bytes is None and n.notes and n.peak_max is None
    assert set(overrides_of(list(out.values()))) == {"spike", "calm"}


def test_cpu_advice_ignores_short_trials_and_never_exceeds_what_cpu_max_allowed() -> None:
    # A 10 ms trial whose spawn and leftovers count 15 ms of CPU read as 1.5 CPUs, advice a
    # one-CPU machine could never start; a rate above the trial's cpu.max is measurement noise.
    short = [rec("blip", "passed", 8 * MIB, cpu_usage_usec=15_000, wall_seconds=0.01) for _ in range(3)]
    noisy = [rec("busy", "passed", 8 * MIB, cpu_usage_usec=2_300_000, wall_seconds=2.0,
                 limits={"cpu.max": "100000 100000"}) for _ in range(3)]
    free = [rec("free", "passed", 8 * MIB, cpu_usage_usec=2_300_000, wall_seconds=2.0,
                limits={"cpu.max": "max 100000"})]
    out = {a.task: a for a in advise(short + noisy + free, Rule())}
    assert out["blip"].cpus is None and out["blip"].cpus_used_quantile is None
    assert out["busy"].cpus == 1.0 and out["free"].cpus == 1.25


def test_a_timed_out_trial_is_only_a_lower_bound() -> None:
    recs = [rec("t", "timeout", 90 * MIB, timed_out=True), rec("t", "passed", 10 * MIB)]
    (a,) = advise(recs, Rule(band=1.0))
    assert a.lower_bound_max == 90 * MIB and a.peak_max == 10 * MIB
    assert a.kill_threshold_bytes == 99 * MIB  # at least the largest peak seen, + 10 %


# -- overrides -----------------------------------------------------------------------------
def test_overrides_round_trip_and_apply(tmp_path: Path) -> None:
    suite = load_suite(demo_suite_path())
    path = tmp_path / "o.toml"
    path.write_text(overrides.render({"spike-install": {"memory_bytes": 70 * MIB, "cpus": 0.5}},
                                     {"spike-install": "declared 24M"}, "a header"))
    got = overrides.load(path)
    assert got == {"spike-install": {"memory_bytes": 70 * MIB, "cpus": 0.5}}
    new = overrides.apply(suite, got)
    assert new.task("spike-install").memory_bytes == 70 * MIB and new.task("spike-install").cpus == 0.5
    assert new.task("steady") == suite.task("steady") and new.checksum == suite.checksum
    with pytest.raises(UsageError, match="not in the suite: nope"):
        overrides.apply(suite, {"nope": {"memory_bytes": MIB}})


def test_bad_overrides_list_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "o.toml"
    path.write_text('extra = 1\n[task.a]\nmemory = "lots"\n[task.b]\ncolour = "red"\n')
    with pytest.raises(UsageError) as e:
        overrides.load(path)
    text = str(e.value)
    assert "extra" in text and "'lots' is not a size" in text and "colour" in text


def test_settings_with_overrides_survive_the_manifest() -> None:
    s = SweepSettings(suite=Path("/s"), profiles=parse_profiles("1x", None, "2x"),
                      spec_overrides={"a": {"cpus": 2.0}}, sample_interval=0.25)
    again = SweepSettings.from_json(json.loads(json.dumps(s.to_json())), "manifest.json: settings")
    assert again == s
    old = s.to_json()
    del old["spec_overrides"], old["sample_interval"]
    for p in old["profiles"]:
        del p["timeout_multiplier"]  # a manifest from before timeouts were a factor
    back = SweepSettings.from_json(old, "manifest.json: settings")
    assert back.spec_overrides is None and back.profiles[0].timeout_multiplier == 1.0


# -- timeout profiles ----------------------------------------------------------------------
def task() -> TaskSpec:
    p = Path("/suite/t")
    return TaskSpec("t", p, 1.0, 64 * MIB, 100.0, 900.0, p / "instruction.md", None, p / "tests" / "test.sh")


def test_timeout_profiles_cross_the_memory_ones() -> None:
    profiles = parse_profiles("1x,3x", None, "0.5x,2x,none")
    assert [p.name for p in profiles] == ["1x-t0.5x", "1x-t2x", "1x-tnone", "3x-t0.5x", "3x-t2x", "3x-tnone"]
    by = {p.name: p for p in profiles}
    assert by["1x-t0.5x"].agent_timeout(task()) == 50.0 and by["3x-tnone"].agent_timeout(task()) is None
    assert by["3x-t2x"].memory_multiplier == 3.0 and by["3x-t2x"].cpu_multiplier == 3.0
    assert parse_profiles("1x")[0].agent_timeout(task()) == 100.0
    with pytest.raises(UsageError, match="not a positive multiple"):
        Profile("x", 1.0, 1.0, timeout_multiplier=0.0)


def test_sweep_file_timeout(tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text('[[profile]]\nmemory = "1x"\ntimeout = "0.5x"\n'
                 '[[profile]]\nmemory = "1x"\ntimeout = "none"\n[[profile]]\nmemory = "2x"\n')
    profiles = load_sweep_file(f).profiles
    assert [(p.name, p.timeout_multiplier) for p in profiles] == [("1x-t0.5x", 0.5), ("1x-tnone", None),
                                                                  ("2x", 1.0)]
    f.write_text('[[profile]]\nmemory = "1x"\ntimeout = "2G"\n')
    with pytest.raises(UsageError, match="not a positive multiple of the task's agent timeout"):
        load_sweep_file(f)
    with pytest.raises(UsageError, match="'30' is not a positive multiple"):
        parse_profiles("1x", None, "30")  # seconds are not a multiple: refused, not read as 30x


def test_sweep_cli_refuses_timeouts_in_two_places_and_a_negative_interval(tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text('[[profile]]\nmemory = "1x"\n')
    runner = CliRunner()
    r = runner.invoke(main, ["sweep", str(demo_suite_path()), "--out", str(tmp_path / "o"),
                             "--sweep-file", str(f), "--timeout-profiles", "2x"])
    assert r.exit_code == 2 and "give the profiles in one place" in r.output
    r = runner.invoke(main, ["sweep", str(demo_suite_path()), "--out", str(tmp_path / "o"),
                             "--sample-interval", "-1"])
    assert r.exit_code == 2 and "--sample-interval" in r.output
    assert not (tmp_path / "o").exists()


def test_advise_and_show_refuse_what_is_not_a_sweep(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps(manifest(["a"], DEFAULT_PROFILES)))
    (tmp_path / "trials.jsonl").write_text('{"schema": 1, "outcome": "passed"}\n')  # names no task
    runner = CliRunner()
    r = runner.invoke(main, ["advise", str(tmp_path)])
    assert r.exit_code == 2 and "no sweep trial records" in r.output
    r = runner.invoke(main, ["show", str(tmp_path / "nope"), "a/1x/0"])
    assert r.exit_code == 2 and "no such directory" in r.output
    r = runner.invoke(main, ["show", str(tmp_path), "a/1x/0"])
    assert r.exit_code == 2 and "no trial 'a/1x/0'" in r.output


# -- the report along whichever factor varies ----------------------------------------------
def _sweep_with(tmp_path: Path, baseline: str, profiles: dict[str, tuple[float, float | None]]) -> Path:
    """Every trial passes but the baseline's first repeat on half the tasks, an infra error;
    ``profiles``: name -> (memory multiple, timeout multiple)."""
    recs = []
    for i in range(12):
        for name, (mem, timeout) in profiles.items():
            for r in range(2):
                bad = name == baseline and r == 0 and i % 2 == 0
                rec = trial(f"task-{i:02d}", name, mem, r, "infra_error" if bad else "passed")
                recs.append({**rec, "cpu_multiplier": mem, "timeout_multiplier": timeout})
    return write_sweep(tmp_path / "sweep", recs)


def test_band_and_trend_hold_the_timeout_fixed_along_memory(tmp_path: Path) -> None:
    d = _sweep_with(tmp_path, "1x", {"1x": (1.0, 1.0), "3x": (3.0, 1.0), "1x-t0.5x": (1.0, 0.5),
                                     "5x-t0.5x": (5.0, 0.5)})
    doc = report_for_dirs([d], baseline="1x", margin=0.6)
    assert doc.trend.axis == "memory" and doc.trend.order == ("1x", "3x")
    # 3x qualifies; 5x-t0.5x would be the next step were the timeout not held at the baseline's
    assert doc.recommendation.verdict == "recommended" and doc.recommendation.profile == "3x"
    assert doc.recommendation.tested == ("3x",)
    assert {p.name: p.timeout_multiplier for p in doc.profiles}["5x-t0.5x"] == 0.5
    assert "smallest memory multiplier" in doc.recommendation.criterion


def test_band_and_trend_run_along_the_timeout_when_only_it_varies(tmp_path: Path) -> None:
    d = _sweep_with(tmp_path, "1x", {"1x-t0.5x": (1.0, 0.5), "1x": (1.0, 1.0), "1x-t2x": (1.0, 2.0),
                                     "1x-tnone": (1.0, None)})
    doc = report_for_dirs([d], baseline="1x", margin=0.6)
    assert doc.trend.axis == "timeout" and doc.trend.order == ("1x-t0.5x", "1x", "1x-t2x")
    assert "1x-tnone" in doc.trend.uncapped
    assert doc.recommendation.verdict == "recommended" and doc.recommendation.profile == "1x-t2x"
    assert doc.recommendation.tested == ("1x-t2x",)
    assert "smallest timeout multiplier" in doc.recommendation.criterion
    table = next(part for part in render_text(doc).split("\n\n") if "timeout×" in part)
    assert "1x-tnone" in table and " none " in table.split("1x-tnone")[1].splitlines()[0]


def test_a_shard_plan_keeps_timeouts_overrides_and_sampling(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    write_task(suite, "a", "echo ok > result")
    specs = tmp_path / "specs.toml"
    specs.write_text('[task.a]\nmemory = "48M"\n')
    r = CliRunner().invoke(main, ["shard", "prepare", str(suite), str(tmp_path / "out"), "--shards", "2",
                                  "--seed", "1", "--profiles", "1x", "--timeout-profiles", "0.5x,none",
                                  "--spec-overrides", str(specs), "--sample-interval", "0.2"])
    assert r.exit_code == 0, r.output
    s = shard_plan.shard_settings(shard_plan.load(tmp_path / "out"), 2)
    assert [p.timeout_multiplier for p in s.profiles] == [0.5, None]
    assert s.spec_overrides == {"a": {"memory_bytes": 48 * MIB}} and s.sample_interval == 0.2


def test_an_oom_group_kill_seen_in_steps_is_one_mark(tmp_path: Path) -> None:
    # memory.oom.group kills every process of the trial, raising oom_kill once for each; a
    # reader can see 2 then 3 a few ms apart. That is one kill on the timeline, not two.
    from harness.cgroup.group import Cgroup

    s = timeline.Sampler(Cgroup(tmp_path), timeline.SamplePolicy(), 100.0)
    s.mark(104.745, "oom_kill", count=2)
    s.mark(104.747, "oom_kill", count=3)
    s.mark(104.747, "exit")
    s.mark(110.0, "oom_kill", count=4)  # a later, separate kill
    assert [(e["kind"], e.get("count")) for e in s.events] == [
        ("oom_kill", 3), ("exit", None), ("oom_kill", 4)]
    assert len(s.samples) == 4
