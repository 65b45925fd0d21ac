"""Without a scheduler: the shards of one plan over ssh with GNU parallel (README recipe),
against an sshd of our own on the loopback (two logins standing for two machines)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import IN_CI, REPO, SHARED_TMP

pytestmark = pytest.mark.slurm  # a live multi-machine test, like the Slurm ones
PORT = 2722


def _unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def ssh_command() -> Iterator[str]:
    sshd, parallel = shutil.which("sshd") or "/usr/sbin/sshd", shutil.which("parallel")
    if not (os.access(sshd, os.X_OK) and parallel):
        _unavailable("needs sshd and GNU parallel: apt-get install openssh-server parallel")
    d = SHARED_TMP / "sshd"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    for key in ("hostkey", "userkey"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)], check=True)
    shutil.copy(d / "userkey.pub", d / "authorized_keys")
    (d / "sshd_config").write_text(
        f"Port {PORT}\nListenAddress 127.0.0.1\nHostKey {d}/hostkey\nAuthorizedKeysFile {d}/authorized_keys\n"
        f"PasswordAuthentication no\nPidFile {d}/sshd.pid\nStrictModes no\nUsePAM no\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    p = subprocess.run([sshd, "-f", str(d / "sshd_config"), "-E", str(d / "sshd.log")], capture_output=True,
                       text=True)
    if p.returncode != 0:
        _unavailable(f"sshd did not start: {p.stderr}")
    ssh = (f"ssh -p {PORT} -i {d}/userkey -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
           "-o LogLevel=ERROR -o BatchMode=yes")
    try:
        deadline = time.monotonic() + 20
        while subprocess.run([*ssh.split(), "root@127.0.0.1", "true"], capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                _unavailable(f"cannot ssh to our sshd on 127.0.0.1:{PORT}: {(d / 'sshd.log').read_text()}")
            time.sleep(0.2)
        yield ssh
    finally:
        pid = (d / "sshd.pid").read_text().strip() if (d / "sshd.pid").exists() else ""
        if pid.isdigit():
            os.kill(int(pid), 15)


def _run(*argv: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)


def test_parallel_over_ssh_runs_the_plan_as_one_sweep(ssh_command: str, shared_tmp: Path) -> None:
    exe = shared_tmp / "harness"
    python = os.path.realpath(sys.executable)
    exe.write_text(f'#!/bin/sh\nPYTHONPATH={REPO} exec {python} -P -m harness "$@"\n')
    exe.chmod(0o755)
    prefix = shared_tmp / "out"
    prep = _run(str(exe), "shard", "prepare", str(REPO / "harness" / "demo_suite"), str(prefix),
                "--shards", "2", "--repeats", "1", "--tasks", "steady", "--profiles", "1x,uncapped")
    assert prep.returncode == 0, prep.stderr
    # The README's recipe, with our sshd's port and key in --ssh.
    p = _run("parallel", "--will-cite", "--ssh", ssh_command, "-S", "1/root@127.0.0.1,1/root@localhost",
             "--tag", str(exe), "shard", "run", str(prefix), "{}", ":::", "1", "2")
    assert p.returncode == 0, p.stdout + p.stderr
    status = _run(str(exe), "shard", "status", str(prefix), "--pending")
    assert status.returncode == 0 and status.stdout.strip() == ""
    r = _run(str(exe), "report", "--json", str(prefix))
    assert r.returncode == 0, r.stderr
    sweep = json.loads(r.stdout)["sweep"]
    assert sweep["n_trials"] == 2 and len(sweep["sweep_ids"]) == 1 and len(sweep["dirs"]) == 2
