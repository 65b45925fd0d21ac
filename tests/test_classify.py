"""The classification rules: what is an infra error, what is the workload's own failure."""

from harness.runner.classify import classify, exit_status, oom_source


def ev(oom=0, oom_kill=0):
    return {"low": 0, "high": 0, "max": 0, "oom": oom, "oom_kill": oom_kill, "oom_group_kill": 0}


def test_limit_oom_kill_is_infra_error():
    v = classify(passed=False, timed_out=False, events=ev(oom=1, oom_kill=1), ancestor_oom_delta=0)
    assert (v.outcome, v.infra_reason, v.oom_kill_source) == ("infra_error", "oom_kill", "limit")


def test_host_and_ancestor_oom_kills_are_told_apart():
    v = classify(passed=False, timed_out=False, events=ev(oom=0, oom_kill=1), ancestor_oom_delta=0)
    assert (v.infra_reason, v.oom_kill_source) == ("host_oom_kill", "host")
    v = classify(passed=False, timed_out=False, events=ev(oom=0, oom_kill=1), ancestor_oom_delta=1)
    assert (v.infra_reason, v.oom_kill_source) == ("host_oom_kill", "ancestor")
    # the trial's own limit wins when both ran out
    assert oom_source(ev(oom=1, oom_kill=1), ancestor_oom_delta=1) == "limit"


def test_passed_despite_oom_kill_keeps_passed():
    v = classify(passed=True, timed_out=False, events=ev(oom=1, oom_kill=1), ancestor_oom_delta=0)
    assert (v.outcome, v.infra_reason, v.oom_kill_source) == ("passed", None, "limit")


def test_timeout_and_plain_failure():
    assert classify(False, True, ev(), 0).outcome == "timeout"
    assert classify(False, False, ev(), 0).outcome == "failed"
    assert classify(True, False, ev(), 0).outcome == "passed"
    # an OOM kill during a timed-out trial is still the infrastructure's doing
    assert classify(False, True, ev(oom=1, oom_kill=1), 0).outcome == "infra_error"


def test_exit_status_conventions():
    assert exit_status(0, False) == (0, None)
    assert exit_status(3, False) == (3, None)
    assert exit_status(-9, False) == (137, 9)
    assert exit_status(-15, True) == (124, 15)


def test_sweep_trial_verdicts():
    from harness.runner.classify import combine

    assert combine("limit", False, verifier_passed=False).infra_reason == "oom_kill"
    assert combine("host", False, verifier_passed=False).infra_reason == "host_oom_kill"
    assert combine("limit", False, verifier_passed=True).outcome == "passed"
    assert combine(None, True, verifier_passed=False).outcome == "timeout"
    assert combine(None, True, verifier_passed=True).outcome == "passed"
    assert combine(None, False, verifier_passed=False).outcome == "failed"


def test_trial_path_imports_nothing_heavy():
    # numpy/scipy cost seconds inside a UML guest; the runner and the sweep must not load them.
    import subprocess
    import sys

    code = ("import sys, harness.cli.run_cmd, harness.cli.sweep_cmd, harness.sweep.execute; "
            "heavy = {'numpy', 'scipy', 'matplotlib', 'tabulate'}; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
