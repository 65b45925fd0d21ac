"""Suite parsing: good suites, bad suites with every problem listed, both memory forms, subsets."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.suite import SuiteError, load_suite
from harness.suite.task import DEFAULT_AGENT_TIMEOUT_SEC, DEFAULT_CPUS, DEFAULT_MEMORY_BYTES

MIB = 1 << 20

TB20 = """version = "1.0"
[metadata]
author_name = "someone"
difficulty = "medium"
[verifier]
timeout_sec = 600.0
[agent]
timeout_sec = 1200.0
[environment]
build_timeout_sec = 600.0
cpus = 2
memory = "4G"
storage = "10G"
"""

TB21 = """schema_version = "1.1"
[task]
name = "org/new-style"
[environment]
cpus = 1
memory_mb = 2048
storage_mb = 10240
[environment.env]
FOO = "bar"
[agent]
timeout_sec = 900.0
[verifier]
timeout_sec = 300.0
[some_future_table]
x = 1
"""


def make_task(root: Path, name: str, toml: str | None, *, instruction: bool = True, test: bool = True,
              solve: bool = True) -> Path:
    d = root / name
    d.mkdir(parents=True)
    if toml is not None:
        (d / "task.toml").write_text(toml)
    if instruction:
        (d / "instruction.md").write_text(f"do {name}\n")
    if test:
        (d / "tests").mkdir()
        (d / "tests" / "test.sh").write_text("exit 0\n")
    if solve:
        (d / "solution").mkdir()
        (d / "solution" / "solve.sh").write_text("true\n")
    return d


def test_both_forms_parse(tmp_path: Path) -> None:
    make_task(tmp_path, "old-style", TB20)
    make_task(tmp_path, "new-style", TB21)
    suite = load_suite(tmp_path)
    assert suite.names == ("new-style", "old-style")
    old, new = suite.task("old-style"), suite.task("new-style")
    assert (old.cpus, old.memory_bytes, old.agent_timeout_sec, old.verifier_timeout_sec) == (
        2.0, 4 << 30, 1200.0, 600.0)
    assert (new.cpus, new.memory_bytes, new.agent_timeout_sec, new.verifier_timeout_sec) == (
        1.0, 2048 * MIB, 900.0, 300.0)
    assert new.metadata["task"]["name"] == "org/new-style"
    assert new.metadata["some_future_table"] == {"x": 1}
    assert old.has_oracle and old.test_path == tmp_path / "old-style" / "tests" / "test.sh"
    assert suite.warnings == ()


def test_defaults_when_fields_are_missing(tmp_path: Path) -> None:
    make_task(tmp_path, "bare", "")
    task = load_suite(tmp_path).task("bare")
    assert task.cpus == DEFAULT_CPUS and task.memory_bytes == DEFAULT_MEMORY_BYTES
    assert task.agent_timeout_sec == DEFAULT_AGENT_TIMEOUT_SEC
    assert set(task.defaulted) == {"cpus", "memory", "agent.timeout_sec", "verifier.timeout_sec"}


def test_missing_solution_is_a_warning_not_an_error(tmp_path: Path) -> None:
    make_task(tmp_path, "no-oracle", TB21, solve=False)
    suite = load_suite(tmp_path)
    assert not suite.task("no-oracle").has_oracle
    assert any("no-oracle" in w and "solve.sh" in w for w in suite.warnings)


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    make_task(tmp_path, "bad-memory", '[environment]\nmemory = "lots"\n')
    make_task(tmp_path, "bad-cpus", "[environment]\ncpus = -1\nmemory_mb = 0\n")
    make_task(tmp_path, "bad-timeout", '[agent]\ntimeout_sec = "soon"\n[verifier]\ntimeout_sec = true\n')
    make_task(tmp_path, "not-toml", "[environment\ncpus = 1\n")
    make_task(tmp_path, "no-files", TB21, instruction=False, test=False)
    make_task(tmp_path, "no-toml", None)
    make_task(tmp_path, "both-memories", '[environment]\nmemory_mb = 1024\nmemory = "2G"\n')
    make_task(tmp_path, "env-not-table", 'environment = "big"\n')
    make_task(tmp_path, "bad name", TB21)
    make_task(tmp_path, "good", TB21)
    with pytest.raises(SuiteError) as info:
        load_suite(tmp_path)
    err = info.value
    assert isinstance(err, UsageError)
    text = str(err)
    expected = [
        "bad-memory/task.toml: [environment] memory: 'lots' is not a size",
        "bad-cpus/task.toml: [environment] cpus: -1 is not a positive number",
        "bad-cpus/task.toml: [environment] memory_mb: 0 is not a positive number of MiB",
        "bad-timeout/task.toml: [agent] timeout_sec: 'soon' is not a positive number",
        "bad-timeout/task.toml: [verifier] timeout_sec: True is not a positive number",
        "not-toml/task.toml: not valid TOML",
        "no-files/instruction.md: missing",
        "no-files/tests/test.sh: missing",
        "no-toml/task.toml: missing",
        "both-memories/task.toml: [environment] memory_mb = 1024 and memory = '2G' disagree",
        "env-not-table/task.toml: [environment] must be a table",
        "bad name: task name 'bad name' has characters outside [A-Za-z0-9._-]",
    ]
    for line in expected:
        assert line in text, line
    assert len(err.problems) == len(expected)
    assert "good" not in text


def test_memory_mb_given_as_a_string_gets_a_hint(tmp_path: Path) -> None:
    make_task(tmp_path, "t", '[environment]\nmemory_mb = "2G"\n')
    with pytest.raises(SuiteError, match='for a size string write memory = "2G"'):
        load_suite(tmp_path)


def test_terminal_bench_1_yaml_is_named(tmp_path: Path) -> None:
    d = make_task(tmp_path, "tb1", None)
    (d / "task.yaml").write_text("max_agent_timeout_sec: 100\n")
    with pytest.raises(SuiteError, match="Terminal-Bench 1 format"):
        load_suite(tmp_path)


def test_subset_selection_and_unknown_names(tmp_path: Path) -> None:
    for n in ("a", "b", "c"):
        make_task(tmp_path, n, TB21)
    assert load_suite(tmp_path, only=["c", "a", "c"]).names == ("a", "c")
    with pytest.raises(SuiteError) as info:
        load_suite(tmp_path, only=["a", "zz", "yy"])
    assert "no task named 'zz'; the suite has: a, b, c" in str(info.value)
    assert "'yy'" in str(info.value)


def test_subset_ignores_problems_of_unselected_tasks(tmp_path: Path) -> None:
    make_task(tmp_path, "good", TB21)
    make_task(tmp_path, "broken", '[environment]\nmemory = "lots"\n')
    assert load_suite(tmp_path, only=["good"]).names == ("good",)


def test_layouts_tasks_dir_and_single_task(tmp_path: Path) -> None:
    make_task(tmp_path / "tasks", "one", TB21)
    (tmp_path / "README.md").write_text("suite\n")
    assert load_suite(tmp_path).names == ("one",)
    assert load_suite(tmp_path / "tasks" / "one").names == ("one",)


def test_no_tasks_and_no_directory(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="no task directories"):
        load_suite(tmp_path)
    with pytest.raises(SuiteError, match="no such directory"):
        load_suite(tmp_path / "nope")


def test_checksum_is_stable_and_sees_every_file(tmp_path: Path) -> None:
    d = make_task(tmp_path, "a", TB21)
    make_task(tmp_path, "b", TB21)
    (tmp_path / "_shared").mkdir()
    (tmp_path / "_shared" / "lib.py").write_text("x = 1\n")
    first = load_suite(tmp_path).checksum
    (d / "__pycache__").mkdir()
    (d / "__pycache__" / "x.pyc").write_bytes(b"junk")
    assert load_suite(tmp_path).checksum == first
    (tmp_path / "_shared" / "lib.py").write_text("x = 2\n")
    second = load_suite(tmp_path).checksum
    assert second != first
    (d / "tests" / "test.sh").write_text("exit 1\n")
    assert load_suite(tmp_path).checksum != second
    assert load_suite(tmp_path, only=["b"]).checksum != load_suite(tmp_path).checksum
