"""The backend seam: the command lines a guest runs are built from typed settings and give
those settings back exactly; the package has no import cycle."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from conftest import REPO

from harness.backends.backend import Native, Uml, choose
from harness.backends.guest_commands import SETTINGS_JSON_OPTION, resume_argv, run_argv, sweep_argv
from harness.cli.run_cmd import limits_from_flags, run
from harness.errors import UsageError
from harness.limits import LimitSettings
from harness.schema.settings import SweepSettings
from harness.sweep.profiles import Profile, parse_profiles


def _run_params(argv: list[str]) -> dict[str, object]:
    assert argv[0] == "run"
    ctx = run.make_context("run", argv[1:])
    return dict(ctx.params)


def test_run_argv_gives_back_the_limits_exactly() -> None:
    for limits in (
        LimitSettings(memory_guarantee_bytes=64 << 20, memory_max_bytes=192 << 20,
                      memory_high_bytes=128 << 20, cpu_max_cpus=1.5, declared_cpus=0.5,
                      declared_memory_bytes=64 << 20, pids_max=100,
                      protection="min", oom_group=False, swap_max_bytes=1 << 20),
        LimitSettings(),  # nothing declared: no guarantee, no limit
        LimitSettings(memory_guarantee_bytes=0, memory_max_bytes=None, swap_max_bytes=None, pids_max=None),
    ):
        params = _run_params(run_argv(["python3", "-c", "pass", "--memory"], limits, timeout=3.5, grace=1.0,
                                      timeline=Path("/var/tmp/t.json")))
        assert params["command"] == ("python3", "-c", "pass", "--memory")
        assert params["backend"] == "native" and params["timeout"] == 3.5 and params["grace"] == 1.0
        assert params["timeline"] == Path("/var/tmp/t.json")
        flags = {k: v for k, v in params.items() if k not in (
            "command", "backend", "cgroup_root", "as_json", "record", "timeline", "timeout", "grace")}
        got = limits_from_flags(**flags)  # type: ignore[arg-type]
        assert got.files() == limits.files()
        assert got.declared_cpus == limits.declared_cpus


def test_sweep_argv_carries_the_settings_whole() -> None:
    profiles = (*parse_profiles("1x,3x"), Profile("odd", 2.0, None, 0.5, "min", 1.5))
    settings = SweepSettings(suite=Path("/suites/s"), profiles=profiles, repeats=2, seed=11, concurrency=3,
                             tasks=("a", "b"), shard="1/2", keep_workdirs=True)
    argv = sweep_argv(settings, Path("/r/out"), cgroup_root=Path("/sys/fs/cgroup/x"), as_json=True)
    text = argv[argv.index(SETTINGS_JSON_OPTION) + 1]
    assert SweepSettings.from_json(json.loads(text), "argv") == settings
    assert argv[argv.index("--out") + 1] == "/r/out" and "--json" in argv
    assert argv[argv.index("--backend") + 1] == "native"
    assert resume_argv(Path("/r/out")) == ["sweep", "--resume", "/r/out", "--backend", "native"]


def test_choose_gives_a_backend_object() -> None:
    assert isinstance(choose("native"), Native)
    assert isinstance(choose("uml", mem="512M"), Uml) and choose("uml", mem="512M").mem == "512M"


def test_a_native_resume_of_a_sweep_split_over_guests_says_how(tmp_path: Path) -> None:
    """Its manifests are the parts': a native resume used to fail on "no manifest" alone."""
    out = tmp_path / "out"
    for j in (1, 2):
        (out / f"part-{j}").mkdir(parents=True)
        (out / f"part-{j}" / "manifest.json").write_text("{}")
    before = sorted(str(p) for p in out.rglob("*"))
    with pytest.raises(UsageError, match=r"split over 2 user-mode Linux guests \(part-1, part-2\)") as e:
        Native().resume(out)
    assert e.value.fix is not None and f"--resume {out} --backend uml" in e.value.fix
    assert sorted(str(p) for p in out.rglob("*")) == before  # nothing written, no lock taken


def _imports() -> dict[str, set[str]]:
    mods = {}
    for p in (REPO / "harness").rglob("*.py"):
        parts = p.relative_to(REPO).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        for node in ast.walk(ast.parse(p.read_text())):  # function-level imports too
            if isinstance(node, ast.ImportFrom) and node.module in mods:
                graph[m].add(node.module)
                graph[m].update(f"{node.module}.{a.name}" for a in node.names
                                if f"{node.module}.{a.name}" in mods)
            elif isinstance(node, ast.Import):
                graph[m].update(a.name for a in node.names if a.name in mods)
    return graph


def test_no_import_cycle_in_the_package() -> None:
    graph = _imports()
    assert "harness.backends.choose" not in graph["harness.doctor"]
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            assert state.get(n) != 1, f"import cycle: {' -> '.join([*path, m, n])}"
            if n not in state:
                visit(n, [*path, m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])


def test_a_library_caller_runs_a_trial_in_a_uml_guest(uml_kernel: Path) -> None:
    rec = Uml(mem="512M").run(["sh", "-c", "exit 3"], LimitSettings(memory_max_bytes=64 << 20), timeout=60)
    assert rec.backend == "uml" and rec.outcome == "failed" and rec.exit_code == 3
    assert rec.limits["memory.max"] == str(64 << 20)
