"""User-caused start-up errors end with one `error:` line, exit code 1 and no traceback."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

import pytest
from node_cli import free_port, free_port_block, run_cli

from cometsync.config import load_genesis
from cometsync.state import State, StateStore
from cometsync.store import open_db


@pytest.fixture
def home(tmp_path: Path) -> Path:
    base = free_port_block(1)
    made = run_cli(["testnet", "--v", "1", "--o", str(tmp_path), "--starting-port", str(base)])
    assert made.returncode == 0, made.stderr
    return tmp_path / "node0"


def _fails_with(args: list[str], expected: str) -> None:
    result = run_cli(["start", *args], timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expected in errors[0], result.stderr


def test_bad_config_value(home: Path) -> None:
    _fails_with(["--home", str(home), "--p2p.laddr", "nonsense"], "p2p.laddr")


def test_bad_value_in_config_file(home: Path) -> None:
    path = home / "config" / "config.toml"
    path.write_text(path.read_text().replace("send_rate = 5120000", 'send_rate = "fast"'))
    _fails_with(["--home", str(home)], "send_rate")


def test_missing_home(tmp_path: Path) -> None:
    _fails_with(["--home", str(tmp_path / "nowhere")], "cometsync init")


def test_unreachable_app(home: Path) -> None:
    _fails_with(
        ["--home", str(home), "--proxy_app", f"grpc://127.0.0.1:{free_port()}"], "cannot reach the ABCI app"
    )


def test_port_in_use(home: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        _fails_with(["--home", str(home), "--rpc.laddr", f"tcp://127.0.0.1:{port}"], f"port {port} is in use")


def test_locked_data_dir(home: Path) -> None:
    held = open_db(home / "data" / "blockstore.db")
    try:
        _fails_with(["--home", str(home)], "is locked by another process")
    finally:
        held.close()


def test_genesis_mismatch(home: Path) -> None:
    genesis = load_genesis(home / "config" / "genesis.json")
    store = StateStore.open(home / "data" / "state.db")
    try:
        store.save(replace(State.from_genesis(genesis), chain_id="other-chain"))
    finally:
        store.close()
    _fails_with(["--home", str(home)], f"genesis chain id {genesis.chain_id} does not match")


def test_unknown_engine(home: Path) -> None:
    path = home / "config" / "config.toml"
    path.write_text(path.read_text().replace('consensus_engine = "auto"', 'consensus_engine = "raft"'))
    _fails_with(["--home", str(home)], "consensus_engine")
