"""A third-party Python ABCI 2.0 socket server, pyABCI (PyPI `pyABCI`, in the `test` extra, so this runs in
the default suite), driven by `cometsync start` as a solo producer over the socket protocol: the app is
told of every block (InitChain, PrepareProposal, FinalizeBlock, Commit) and of txs (CheckTx)."""

from __future__ import annotations

import base64
import importlib.metadata
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from node_cli import free_port, producer_and_follower, reached, rpc, spawn_cli, stop_process, wait_for

from cometsync.config import load_config, save_config

HERE = Path(__file__).resolve().parent
HEIGHT = 20


def pyabci_version() -> str:
    try:
        return importlib.metadata.version("pyABCI")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("pyABCI is not installed (pip install -e '.[test]' installs it)")


def start_pyabci(port: int, log: Path) -> subprocess.Popen[bytes]:
    """`python -m abci.server` serving tests/interop/pyabci_app.py; returns once it listens."""
    out = log.open("wb")
    try:
        argv = [sys.executable, "-m", "abci.server", f"--port={port}", f"{HERE / 'pyabci_app.py'}:app"]
        server = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    finally:
        out.close()
    # A probe connection would stop it: pyABCI's server exits once its last connection closes.
    wait_for(lambda: "ABCI server is listening" in log.read_text() or None, 60, "pyABCI to listen")
    return server


def test_cometsync_start_drives_pyabci_over_the_socket_protocol(tmp_path: Path) -> None:
    assert pyabci_version() == "0.1.0"
    producer_home, _, base = producer_and_follower(tmp_path, "30ms")
    port = free_port()
    config = load_config(producer_home)
    config.override("proxy_app", f"tcp://127.0.0.1:{port}")
    config.override("abci", "socket")
    save_config(config)
    app = start_pyabci(port, tmp_path / "pyabci.log")
    node = spawn_cli(["start", "--home", str(producer_home)], tmp_path / "node.log")
    try:
        wait_for(lambda: reached(base + 1, 2), 90, "the first blocks")
        tx = urllib.parse.quote('"hello=world"')
        checked = rpc(base + 1, f"broadcast_tx_sync?tx={tx}", timeout=30)
        assert checked is not None and int(checked["code"]) == 0, checked
        wait_for(lambda: reached(base + 1, HEIGHT), 120, f"height {HEIGHT}")
        info = rpc(base + 1, "abci_info")["response"]
        blocks = [rpc(base + 1, f"block?height={height}")["block"] for height in range(1, HEIGHT + 1)]
    finally:
        code = stop_process(node)
        app.terminate()
        app.wait(20)
    assert code == 0, (tmp_path / "node.log").read_text()[-3000:]
    assert info["version"] == "pyabci" and int(info["last_block_height"]) >= HEIGHT - 1
    included = [base64.b64decode(tx) for block in blocks for tx in block["data"]["txs"] or []]
    assert included == [b"hello=world"]  # reaped from the mempool after pyABCI's CheckTx accepted it
