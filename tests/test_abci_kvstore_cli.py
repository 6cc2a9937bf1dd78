"""`cometsync kvstore` as a real process over each transport: ready line, clean SIGTERM exit, one-line
startup errors."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from abci_process import kvstore_argv, start_kvstore

from cometsync.abci.kvstore.serve import TRANSPORTS

pytestmark = pytest.mark.parametrize("transport", TRANSPORTS)


def run_to_exit(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_serves_until_sigterm_then_exits_cleanly(tmp_path: Path, transport: str) -> None:
    app = start_kvstore(tmp_path, transport=transport)
    assert app.address == f"127.0.0.1:{app.port}" and app.port > 0
    assert app.terminate() == 0
    assert (tmp_path / "data" / "kvstore.db" / "CURRENT").exists()


def test_port_in_use_is_one_error_line(tmp_path: Path, transport: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_to_exit(kvstore_argv(tmp_path, f"127.0.0.1:{port}", transport=transport))
    assert result.returncode == 1
    expected = f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert result.stderr.strip().splitlines() == [expected]


def test_bad_address_is_one_error_line(tmp_path: Path, transport: str) -> None:
    result = run_to_exit(kvstore_argv(tmp_path, "nonsense", transport=transport))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: ABCI address 'nonsense' is not host:port (e.g. 127.0.0.1:26658)"
    ]


def test_second_app_on_the_same_home_is_refused(tmp_path: Path, transport: str) -> None:
    app = start_kvstore(tmp_path, transport=transport)
    try:
        result = run_to_exit(kvstore_argv(tmp_path, transport=transport))
    finally:
        app.terminate()
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot open the kvstore database")
    assert "lock" in lines[0]


def test_unix_socket_address_is_announced_and_removed(tmp_path: Path, transport: str) -> None:
    path = tmp_path / "app.sock"
    app = start_kvstore(tmp_path / "home", f"unix://{path}", transport=transport)
    assert app.address == f"unix://{path}" and path.exists()
    assert app.terminate() == 0
    assert not path.exists()
