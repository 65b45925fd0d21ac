"""The formats the harness writes: a result directory written by an earlier harness still
reads, reports and resumes; a later version is refused; README and readers agree with the
schema."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REPO
from helpers_schema import ADDED_RECORD, ADDED_VERIFIER, assert_manifest_read_unchanged, assert_read_unchanged

from harness.cli import main
from harness.errors import ResultsError, UsageError
from harness.report import compare
from harness.results import store
from harness.schema.manifest import MANIFEST_FIELDS, Manifest
from harness.schema.record import (
    CATEGORIES,
    CATEGORY_CODE,
    REPORT_KEYS,
    RUN_FIELDS,
    SWEEP_FIELDS,
    VERIFIER_FIELDS,
    RunRecord,
    TrialRecord,
    VerifierResult,
)
from harness.stats import table

FIXTURES = Path(__file__).parent / "fixtures"
V1 = FIXTURES / "results-v1"  # `harness sweep` of main, 2 demo tasks x 1x,3x, UML
V1_PARTIAL = FIXTURES / "results-v1-partial"  # the same with two trials removed, unfinished


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.stdout, r.stderr


def lines(d: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in (d / store.TRIALS_FILE).read_text().splitlines()]


def test_v1_directory_reads_through_the_schema_unchanged() -> None:
    m = store.read_manifest(V1)
    # Every field comes back unchanged; fields added to version 1 since (timeout profiles,
    # timelines, spec overrides; the environment fields) read as their defaults: what that sweep ran with.
    old = json.loads((V1 / store.MANIFEST_FILE).read_text())
    profiles = [{**p, "timeout_multiplier": 1.0} for p in old["profiles"]]
    assert_manifest_read_unchanged(m.to_json(), {
        **old, "profiles": profiles, "spec_overrides": None,
        "settings": {**old["settings"], "profiles": profiles, "sample_interval": 0.1,
                     "spec_overrides": None}})
    assert m.n_trials_planned == 4 and m.finished_at and [p.name for p in m.profiles] == ["1x", "3x"]
    recs = store.read_trials(V1 / store.TRIALS_FILE).records
    assert len(recs) == 4
    for i, rec in enumerate(recs):
        written = TrialRecord.from_json(rec, f"trials.jsonl:{i + 1}").to_json()
        upgraded = {**rec, "timeout_multiplier": 1.0, "agent_timeout_sec": None}
        assert_read_unchanged({k: v for k, v in written.items() if k != "verifier"},
                              {k: v for k, v in upgraded.items() if k != "verifier"}, TrialRecord,
                              ADDED_RECORD)
        assert isinstance(rec["verifier"], dict)
        assert_read_unchanged(written["verifier"], rec["verifier"], VerifierResult, ADDED_VERIFIER)
    outcomes = {r["trial_id"]: r["outcome"] for r in recs}
    assert outcomes["spike-install/1x/0"] == "infra_error" and outcomes["steady/3x/0"] == "passed"


def test_v1_directory_reports() -> None:
    code, out, err = run("report", str(V1), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert len(doc["profiles"]) == 2 and '"3x"' in json.dumps(doc["profiles"])
    assert doc["setup"]["suite"]["n_tasks"] == 2 and doc["setup"]["runs"][0]["backend"] == "uml"


def _future(tmp_path: Path, which: str) -> Path:
    d = tmp_path / "future"
    shutil.copytree(V1, d)
    if which == "manifest":
        m = json.loads((d / store.MANIFEST_FILE).read_text())
        m["schema"] = 2
        (d / store.MANIFEST_FILE).write_text(json.dumps(m))
    else:
        recs = lines(d)
        recs[1]["schema"] = 2
        (d / store.TRIALS_FILE).write_text("".join(json.dumps(r) + "\n" for r in recs))
    return d


@pytest.mark.parametrize("which", ["manifest", "record"])
def test_a_future_version_is_refused_with_exit_2_naming_file_and_versions(tmp_path: Path, which: str) -> None:
    d = _future(tmp_path, which)
    code, out, err = run("report", str(d))
    assert code == 2 and out == ""
    where = f"{d}/manifest.json" if which == "manifest" else f"{d}/trials.jsonl:2"
    assert where in err and "schema version 2" in err and "reads version 1" in err and "fix:" in err
    code, _, err = run("compare", str(V1), str(d))
    assert code == 2 and "schema version 2" in err


def test_resume_refuses_a_future_version_and_a_finished_sweep(tmp_path: Path) -> None:
    from harness.sweep import execute

    with pytest.raises(ResultsError, match="schema version 2"):
        execute.resume(_future(tmp_path, "manifest"), "native", None)
    finished = tmp_path / "finished"
    shutil.copytree(V1, finished)  # a refused resume still takes the directory's lock
    with pytest.raises(UsageError, match=r"finished .*nothing to resume"):
        execute.resume(finished, "native", None)


def test_records_without_a_version_are_refused(tmp_path: Path) -> None:
    rec = lines(V1)[0]
    del rec["schema"]
    with pytest.raises(ResultsError, match="schema version None"):
        TrialRecord.from_json(rec, "x")
    with pytest.raises(ResultsError, match="lacks trial_id"):
        TrialRecord.from_json({k: v for k, v in lines(V1)[0].items() if k != "trial_id"}, "x")


def test_sweep_fields_are_what_a_sweep_writes() -> None:
    rec = lines(V1)[0]
    # optional: older records lack them
    added_since = {"timeout_multiplier", "agent_timeout_sec", *ADDED_RECORD}
    assert added_since <= {*RUN_FIELDS, *SWEEP_FIELDS} and not added_since & set(rec)
    assert set(rec) | added_since == {"schema", *RUN_FIELDS, *SWEEP_FIELDS}
    assert {"seed", "declared_memory_bytes", "declared_cpus"} <= set(SWEEP_FIELDS)
    assert isinstance(rec["verifier"], dict) and set(rec["verifier"]) | ADDED_VERIFIER == set(VERIFIER_FIELDS)
    assert set(REPORT_KEYS) - added_since <= set(rec)


def test_category_codes_match_the_statistics() -> None:
    assert CATEGORIES == table.CATEGORIES
    assert {CATEGORIES[c] for c in CATEGORY_CODE.values()} == set(CATEGORIES)


def _path_exists(doc: object, key: str) -> bool:
    for part in key.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return False
        doc = doc[part]
    return True


def test_compare_ignores_only_real_manifest_fields() -> None:
    doc = store.read_manifest(V1).to_json()
    missing = [k for k in compare.IGNORED if not _path_exists(doc, k)]
    assert not missing, f"compare.IGNORED names keys no manifest has: {missing}"


def _readme_table(heading: str) -> set[str]:
    """The field names (backticked, first column) of the README table after ``heading``."""
    text = (REPO / "README.md").read_text()
    start = text.index(heading)
    rows = []
    for line in text[start:].splitlines()[1:]:
        if line.startswith("|"):
            rows.append(line)
        elif rows:
            break
    names: set[str] = set()
    for row in rows[2:]:
        names.update(re.findall(r"`([a-z_]+)`", row.split("|")[1]))
    return names


def test_readme_field_tables_match_the_schema() -> None:
    assert _readme_table("Trial record fields, from the runner") == {"schema", *RUN_FIELDS}
    assert _readme_table("Trial record fields a sweep adds") == set(SWEEP_FIELDS)
    assert _readme_table("Verifier fields") == set(VERIFIER_FIELDS)
    assert _readme_table("Manifest fields") == {"schema", *MANIFEST_FIELDS}


def test_run_record_round_trips() -> None:
    rec = RunRecord(outcome="failed", infra_reason=None, exit_code=1, returncode=1, signal=None,
                    timed_out=False, wall_seconds=0.5, command=["false"], started_at="t",
                    harness_version="0.1.0", backend="native")
    assert RunRecord.from_json(rec.to_json(), "x") == rec


def test_manifest_round_trips_and_names_a_missing_field(tmp_path: Path) -> None:
    # as this harness writes it (the fixture's upgrade is checked above)
    doc = Manifest.from_json(json.loads((V1 / store.MANIFEST_FILE).read_text()), "m").to_json()
    assert doc["spec_overrides"] is None and doc["settings"]["sample_interval"] == 0.1
    assert Manifest.from_json(doc, "m").to_json() == doc
    del doc["host"]["kernel"]
    (tmp_path / store.MANIFEST_FILE).write_text(json.dumps(doc))
    with pytest.raises(ResultsError, match=r"manifest.json: host: lacks kernel"):
        store.read_manifest(tmp_path)


def test_resume_of_the_partial_fixture_runs_exactly_the_missing_trials(kernel, shared_tmp) -> None:
    d = shared_tmp / "partial"
    shutil.copytree(V1_PARTIAL, d)
    m = json.loads((d / store.MANIFEST_FILE).read_text())
    m["settings"]["suite"] = str(REPO / "harness" / "demo_suite")  # where this checkout has it
    (d / store.MANIFEST_FILE).write_text(json.dumps(m, indent=2, sort_keys=True))
    before = lines(d)
    r = kernel.harness("sweep", "--resume", str(d))
    assert r.returncode == 0, r.stderr
    after = lines(d)
    assert after[:2] == before
    assert sorted(x["trial_id"] for x in after) == sorted(x["trial_id"] for x in lines(V1))
    done = store.read_manifest(d)
    assert done.finished_at and [i.resumed for i in done.invocations] == [False, True]
    r = kernel.harness("sweep", "--resume", str(d))
    assert r.returncode == 2 and "nothing to resume" in r.stderr


def test_an_older_version_is_upgraded_on_read() -> None:
    from harness.schema.version import check_version

    def from_0(doc: dict[str, object]) -> dict[str, object]:
        return {**doc, "schema": 1, "renamed": doc["old"]}

    assert check_version({"schema": 0, "old": 5}, "f", "x", 1, {0: from_0}) == {"schema": 1, "old": 5,
                                                                                 "renamed": 5}
    with pytest.raises(ResultsError, match=r"f: x schema version 3; this harness reads version 0, 1"):
        check_version({"schema": 3}, "f", "x", 1, {0: from_0})
    with pytest.raises(ResultsError, match="version True"):
        check_version({"schema": True}, "f", "x", 1)


def test_the_setup_section_reads_real_manifest_fields() -> None:
    from harness.report.sections import SETUP_KEYS

    assert set(SETUP_KEYS) <= set(MANIFEST_FIELDS)


def test_exit_statuses_keep_their_conventions() -> None:
    from harness.errors import CgroupError, Interrupted, SpawnError
    from harness.exits import ExitStatus, killed_by, status_for

    assert (ExitStatus.TIMEOUT, ExitStatus.HARNESS, ExitStatus.NOT_EXECUTABLE, ExitStatus.NOT_FOUND) == (
        124, 125, 126, 127)
    assert ExitStatus.INTERRUPTED == 130 and killed_by(9) == 137
    assert status_for(UsageError("x")) == status_for(ResultsError("x")) == 2
    assert status_for(Interrupted("x")) == 130 and status_for(CgroupError("x")) == 125
    assert status_for(SpawnError("x", 127)) == 125 and status_for(RuntimeError()) == 125
