"""The crash-safe trial log."""


import pytest

from harness.errors import ResultsError
from harness.results.store import TrialLog, read_manifest, read_trials, repair, write_json_atomic


def test_append_and_read(tmp_path):
    p = tmp_path / "trials.jsonl"
    with TrialLog(p) as log:
        for i in range(3):
            log.append({"trial_id": f"t/{i}", "outcome": "passed"})
    r = read_trials(p)
    assert [x["trial_id"] for x in r.records] == ["t/0", "t/1", "t/2"]
    assert not r.torn_tail


def test_torn_tail_is_ignored_then_repaired(tmp_path):
    p = tmp_path / "trials.jsonl"
    p.write_bytes(b'{"trial_id":"a"}\n{"trial_id":"b"}\n{"trial_id":"c", "out')
    r = read_trials(p)
    assert [x["trial_id"] for x in r.records] == ["a", "b"] and r.torn_tail
    assert repair(p) == len(b'{"trial_id":"c", "out')
    with TrialLog(p) as log:
        log.append({"trial_id": "c"})
    assert [x["trial_id"] for x in read_trials(p).records] == ["a", "b", "c"]


def test_corrupt_middle_line_names_the_line(tmp_path):
    p = tmp_path / "trials.jsonl"
    p.write_text('{"a":1}\nnot json\n{"a":2}\n')
    with pytest.raises(ResultsError, match=r"trials.jsonl:2"):
        read_trials(p)


def test_manifest_atomic(tmp_path):
    write_json_atomic(tmp_path / "manifest.json", {"sweep_id": "s1"})
    assert read_manifest(tmp_path) == {"sweep_id": "s1"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    (tmp_path / "manifest.json").write_text("{broken")
    with pytest.raises(ResultsError, match="not valid JSON"):
        read_manifest(tmp_path)
    with pytest.raises(ResultsError, match=r"no manifest\.json"):
        read_manifest(tmp_path / "nowhere")
