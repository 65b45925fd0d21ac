"""`harness report`, `compare`, `power` end to end on synthetic result directories."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers_results import simulate, trial, write_sweep

from harness.cli import main
from harness.report import load
from harness.report.build import report_for_dirs
from harness.report.render import render_markdown, render_text


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(3)
    recs = simulate(rng, 40, 2, p_infra={"1x": 0.3, "2x": 0.02})
    return write_sweep(tmp_path_factory.mktemp("r") / "s", recs)


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_report_json_has_required_keys(sweep: Path) -> None:
    code, out, _ = run("report", str(sweep), "--json")
    assert code == 0
    doc = json.loads(out)  # strict JSON: no NaN
    assert "NaN" not in out and "Infinity" not in out
    for key in ("profiles", "comparisons", "overall", "trend", "recommendation", "flipping_tasks", "drift",
                "setup", "notes", "warnings", "margin", "alpha", "baseline"):
        assert key in doc
    p = doc["profiles"][0]
    for key in ("name", "memory_multiplier", "cpu_multiplier", "n_tasks", "n_trials", "success_rate",
                "success_se", "success_ci", "success_wilson_ci", "success_rate_excluding_infra",
                "infra_error_rate", "infra_error_se", "infra_error_ci", "task_failure_rate"):
        assert key in p
    c = doc["comparisons"][0]
    for key in ("profile", "baseline", "success_diff", "success_diff_ci", "success_p", "success_p_holm",
                "infra_diff", "infra_diff_ci", "infra_p", "infra_test", "infra_p_paired",
                "infra_p_paired_holm", "infra_odds_ratio",
                "equivalent", "equivalence"):
        assert key in c
    # the default margin is the article's ±3 points, carried as a proportion
    assert doc["margin"] == 0.03 and doc["recommendation"]["margin"] == 0.03
    assert doc["capacity"]["n_tasks"] >= 2 and len(doc["capacity"]["summary"]) == 2
    assert "uncapped" in doc["trend"]["uncapped"]
    assert doc["comparisons"][0]["infra_diff"] < 0  # 1x had the infra errors


def test_report_text_markdown_and_plot(sweep: Path, tmp_path: Path) -> None:
    code, out, err = run("report", str(sweep), "--format", "markdown", "--plot", str(tmp_path / "p.svg"))
    assert code == 0 and out.startswith("Sweep") and "## Profiles" in out
    assert (tmp_path / "p.svg").exists() and "plot written" in err
    doc = report_for_dirs([sweep])
    assert "Recommended limit" in render_text(doc) and "|" in render_markdown(doc)


def test_band_recommends_when_success_equal_and_infra_lower(tmp_path: Path) -> None:
    # Success identical per task (deterministic tasks), infra errors only at 1x on extra trials.
    recs = []
    for i in range(60):
        for name, mult in (("1x", 1.0), ("2x", 2.0), ("3x", 3.0)):
            for r in range(4):
                out = "passed" if i % 2 == 0 else "failed"
                recs.append(trial(f"t{i:02d}", name, mult, r, out, t=float(len(recs))))
            if name == "1x" and i % 3 == 0:
                recs.append(trial(f"t{i:02d}", name, mult, 9, "infra_error", t=float(len(recs))))
    # infra errors break the equal success at 1x slightly: give the other profiles the same count
    doc = report_for_dirs([write_sweep(tmp_path / "s", recs)], margin=0.05).to_json()
    rec = doc["recommendation"]
    assert rec["verdict"] == "recommended" and rec["profile"] == "3x", rec
    assert rec["tested"] == ["2x", "3x"]  # the fixed sequence, upward
    assert doc["comparisons"][0]["equivalence"] == "equivalent"


def test_single_task_and_all_pass(tmp_path: Path) -> None:
    profiles = [("1x", 1.0), ("2x", 2.0)]
    recs = [trial("only", p, m, 0, "passed", t=float(k)) for k, (p, m) in enumerate(profiles)]
    code, out, _ = run("report", str(write_sweep(tmp_path / "s", recs)), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["profiles"][0]["success_se"] is None and any("tasks" in w for w in doc["warnings"])
    assert any("McNemar" in n for n in doc["notes"])


@pytest.mark.parametrize("case", ["empty", "corrupt", "mixed", "baseline", "margin", "missing_field"])
def test_bad_input_exits_2(case: str, sweep: Path, tmp_path: Path) -> None:
    args = ["report", str(sweep)]
    if case == "empty":
        (tmp_path / "e").mkdir()
        args = ["report", str(tmp_path / "e")]
        expect = "manifest.json"
    elif case == "corrupt":
        d = tmp_path / "c"
        shutil.copytree(sweep, d)
        with open(d / "trials.jsonl", "ab") as f:
            f.write(b"{not json\n")
        args = ["report", str(d)]
        expect = "trials.jsonl:"
    elif case == "mixed":
        other = write_sweep(tmp_path / "o", [trial("x", "1x", 1.0, 0, "passed")],
                            suite={"name": "other", "checksum": "zzz", "tasks": ["x"]}, sweep_id="o")
        args.append(str(other))
        expect = "mixed suites"
    elif case == "baseline":
        args += ["--baseline", "7x"]
        expect = "baseline profile '7x'"
    elif case == "margin":
        args += ["--margin", "0"]
        expect = "--margin"
    else:
        d = tmp_path / "m"
        shutil.copytree(sweep, d)
        with open(d / "trials.jsonl", "ab") as f:
            f.write(b'{"schema": 1, "task": "x", "outcome": "passed"}\n')
        args = ["report", str(d)]
        expect = "lacks trial_id, profile"
    code, out, err = run(*args)
    assert code == 2 and out == ""
    assert expect in err and "fix:" in err


def test_compare_exit_codes(sweep: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(sweep, copy)
    # Identical results on 40 tasks: every per-task difference is 0, but zero spread is not zero
    # uncertainty. Within ±10 points it is shown (0.9^40 < 0.05); within ±2 it is not (0.98^40).
    code, out, _ = run("compare", str(sweep), str(copy), "--json", "--margin", "10")
    assert code == 0 and json.loads(out)["status"] == "reproduced"
    code, out, _ = run("compare", str(sweep), str(copy), "--json")
    assert code == 3 and json.loads(out)["status"] == "inconclusive"
    rng = np.random.default_rng(5)
    worse = write_sweep(tmp_path / "w", simulate(rng, 40, 2, p_pass={"1x": -0.6, "2x": -0.6, "3x": -0.6,
                                                                      "uncapped": -0.6}),
                        concurrency=16)
    code, out, _ = run("compare", str(sweep), str(worse))
    assert code == 1 and out.index("concurrency") < out.index("Verdict")
    noisy = write_sweep(tmp_path / "n", simulate(np.random.default_rng(9), 40, 2,
                                                 p_infra={"1x": 0.3, "2x": 0.02}))
    code, _, _ = run("compare", str(sweep), str(noisy))
    assert code == 3
    code, _, err = run("compare", str(sweep), str(tmp_path / "absent"))
    assert code == 2 and "no such directory" in err


def test_power_flags_and_pilot(sweep: Path) -> None:
    # Miller's worked example (σ² = 0, one test) gives 969 by the normal formula; the t needs 2 more
    code, out, _ = run("power", "--omega2", str(1 / 9), "--sigma2", "0", "--family", "1", "--delta", "3",
                       "--json")
    assert code == 0 and json.loads(out)["tasks_needed"] == 971
    assert json.loads(out)["power_at_tasks_needed"] >= 0.8
    code, _, err = run("power", "--omega2", str(1 / 9), "--delta", "3")  # σ² may not default to 0
    assert code == 2 and "--base-rate" in err
    code, out, _ = run("power", "--omega2", str(1 / 9), "--base-rate", "0.5", "--delta", "3", "--json")
    assert code == 0 and json.loads(out)["tasks_needed"] > 4283  # σ² = .25 and Holm over 10 tests
    code, out, _ = run("power", "--pilot", str(sweep), "--tasks", "40", "--delta", "5")
    assert code == 0 and "minimum detectable effect" in out
    code, _, err = run("power", "--omega2", "0.1")
    assert code == 2 and "--delta" in err


def test_parallel_loader_matches_sequential(sweep: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seq = load.load_dirs([sweep], workers=1).table
    monkeypatch.setattr(load, "PARALLEL_MIN_BYTES", 0)
    par = load.load_dirs([sweep], workers=2).table
    for f in ("task", "profile", "category", "host"):
        assert np.array_equal(getattr(seq, f), getattr(par, f))
    assert np.allclose(seq.started, par.started)


def test_shards_read_together_and_duplicates_rejected(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    a = simulate(rng, 10, 1, host="host-a")
    b = [dict(r, host="host-b", trial_id=r["trial_id"] + "-b") for r in simulate(rng, 10, 1, host="host-b")]
    da = write_sweep(tmp_path / "a", a, shard="1/2")
    db = write_sweep(tmp_path / "b", b, shard="2/2")
    doc = report_for_dirs([da, db])
    assert doc.sweep.n_trials == 80 and doc.drift.hosts is not None
    code, _, err = run("report", str(da), str(write_sweep(tmp_path / "a2", a, shard="2/2")))
    assert code == 2 and "recorded twice" in err


def test_a_directory_of_shards_reads_as_one_sweep(tmp_path: Path) -> None:
    from harness.report.load import expand_dirs

    parent = tmp_path / "demo"
    for i in (1, 2):
        (parent / f"shard-{i}").mkdir(parents=True)
        (parent / f"shard-{i}" / "manifest.json").write_text("{}")
    (parent / "notes").mkdir()
    assert expand_dirs([parent]) == [parent / "shard-1", parent / "shard-2"]
    assert expand_dirs([parent / "shard-1"]) == [parent / "shard-1"]
    assert expand_dirs([tmp_path / "empty"]) == [tmp_path / "empty"]


def test_manifest_diff_names_a_different_image_but_not_its_build_time() -> None:
    from harness.report.compare import manifest_diff

    def manifest(image_id: str, seconds: float, source: str) -> dict[str, object]:
        return {"images": {"app": {"reference": "localhost/app:1", "image_id": image_id, "source": source,
                                   "seconds": seconds}}}

    assert manifest_diff(manifest("sha-a", 12.0, "built"), manifest("sha-a", 0.1, "present")) == []
    diff = manifest_diff(manifest("sha-a", 12.0, "built"), manifest("sha-b", 0.1, "present"))
    assert [d["field"] for d in diff] == ["images.app.image_id"]


def test_report_warns_when_infra_errors_fall_on_few_tasks(sweep: Path) -> None:
    # 1x has infra errors on most of the 40 tasks, 2x (2 %) on a handful, the others on none:
    # only 2x's infra statistics rest on too few tasks to be taken at face value.
    from harness.report.build import SPARSE_INFRA_TASKS

    code, out, _ = run("report", str(sweep), "--json")
    doc = json.loads(out)
    by_name = {p["name"]: p for p in doc["profiles"]}
    sparse = [w for w in doc["warnings"] if "infra errors fell on fewer than" in w]
    assert code == 0 and len(sparse) == 1, doc["warnings"]
    assert by_name["2x"]["infra_error_rate"] > 0 and "2x: " in sparse[0], sparse
    assert "1x: " not in sparse[0] and f"fewer than {SPARSE_INFRA_TASKS} tasks" in sparse[0]
    assert not any(f"{n}: " in sparse[0] for n, p in by_name.items() if p["infra_error_rate"] == 0)
