"""A user-mode Linux guest reaches a server on the host's loopback only when asked to."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO

from harness.backends.guest_network import HOST_FROM_GUEST, resolve
from harness.errors import UsageError


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from the host's loopback"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def loopback_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


def _fetch_in_guest(port: int, network: str | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("HARNESS_UML_NETWORK", None)
    if network:
        env["HARNESS_UML_NETWORK"] = network
    code = (f"import urllib.request; print(urllib.request.urlopen('http://{HOST_FROM_GUEST}:{port}/', "
            "timeout=10).read().decode())")
    return subprocess.run([sys.executable, "-m", "harness", "vm", "--mem", "256M", "--",
                           sys.executable, "-c", code],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


def test_slirp_reaches_the_host_loopback_and_none_does_not(
        uml_kernel: Path, loopback_server: int, shared_tmp: Path) -> None:
    on = _fetch_in_guest(loopback_server, "slirp", shared_tmp)
    assert on.returncode == 0, on.stderr
    assert on.stdout.strip() == "hello from the host's loopback"
    off = _fetch_in_guest(loopback_server, None, shared_tmp)
    assert off.returncode != 0 and "hello" not in off.stdout


def test_an_unknown_network_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_UML_NETWORK", "tap0")
    with pytest.raises(UsageError, match="use one of none, slirp"):
        resolve(None)
    assert resolve("none") == "none"
    monkeypatch.delenv("HARNESS_UML_NETWORK")
    assert resolve(None) == "none"
