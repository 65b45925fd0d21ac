"""The crash-safe trial log."""

import json
from pathlib import Path

import pytest

from harness.errors import ResultsError
from harness.results.store import TrialLog, read_manifest, read_trials, repair, write_json_atomic
from harness.schema.manifest import Manifest

FIXTURE = Path(__file__).parent / "fixtures" / "results-v1"


def test_append_and_read(tmp_path):
    p = tmp_path / "trials.jsonl"
    with TrialLog(p) as log:
        for i in range(3):
            log.append({"schema": 1, "trial_id": f"t/{i}", "outcome": "passed"})
    r = read_trials(p)
    assert [x["trial_id"] for x in r.records] == ["t/0", "t/1", "t/2"]
    assert not r.torn_tail


def test_torn_tail_is_ignored_then_repaired(tmp_path):
    p = tmp_path / "trials.jsonl"
    p.write_bytes(b'{"schema":1,"trial_id":"a"}\n{"schema":1,"trial_id":"b"}\n'
                  b'{"schema":1,"trial_id":"c", "out')
    r = read_trials(p)
    assert [x["trial_id"] for x in r.records] == ["a", "b"] and r.torn_tail
    assert repair(p) == len(b'{"schema":1,"trial_id":"c", "out')
    with TrialLog(p) as log:
        log.append({"schema": 1, "trial_id": "c"})
    assert [x["trial_id"] for x in read_trials(p).records] == ["a", "b", "c"]


def test_corrupt_middle_line_names_the_line(tmp_path):
    p = tmp_path / "trials.jsonl"
    p.write_text('{"schema":1}\nnot json\n{"schema":1}\n')
    with pytest.raises(ResultsError, match=r"trials.jsonl:2"):
        read_trials(p)


def test_manifest_atomic(tmp_path):
    # as this harness writes it (the v1 fixture upgraded: the fields added since at their defaults)
    doc = Manifest.from_json(json.loads((FIXTURE / "manifest.json").read_text()), "fixture").to_json()
    write_json_atomic(tmp_path / "manifest.json", doc)
    assert read_manifest(tmp_path).to_json() == doc
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    write_json_atomic(tmp_path / "manifest.json", {"sweep_id": "s1"})
    with pytest.raises(ResultsError, match="schema version None"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{broken")
    with pytest.raises(ResultsError, match="not valid JSON"):
        read_manifest(tmp_path)
    with pytest.raises(ResultsError, match=r"no manifest\.json"):
        read_manifest(tmp_path / "nowhere")
