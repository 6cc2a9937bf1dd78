"""`cometsync init` run as a subprocess: the files of `cometbft init`, their permissions, idempotency,
existing CometBFT homes, and one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from cometsync.config import load_config
from cometsync.crypto import load_node_key, load_priv_validator_key
from cometsync.types import Genesis

DATA = Path(__file__).parent / "data"
LOCALNET = DATA / "cometbft-v0.38.25-localnet"
COMETBFT_CONFIG = DATA / "cometbft-v0.38.25-config" / "config.toml"
FILES = (
    "config/config.toml",
    "config/genesis.json",
    "config/node_key.json",
    "config/priv_validator_key.json",
    "data/priv_validator_state.json",
)

ENTRY = "from cometsync.cli.main import main; main()"


def run_cli(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """The real `cometsync` CLI in a child process, as a user runs it (CMTHOME unset)."""
    env = {key: value for key, value in os.environ.items() if key != "CMTHOME"}
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_init_writes_a_complete_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = run_cli("init", "--home", str(home), "--chain-id", "my-chain", "--moniker", "alice")
    assert result.returncode == 0, result.stderr
    for name in FILES:
        assert (home / name).is_file(), name
        assert f"created {home / name}" in result.stdout
    assert mode(home) == mode(home / "config") == mode(home / "data") == 0o700
    assert mode(home / "config/node_key.json") == mode(home / "config/priv_validator_key.json") == 0o600
    assert mode(home / "data/priv_validator_state.json") == 0o600
    assert mode(home / "config/genesis.json") == mode(home / "config/config.toml") == 0o644

    validator = load_priv_validator_key(home / "config/priv_validator_key.json")
    node_key = load_node_key(home / "config/node_key.json")
    genesis = Genesis.load(home / "config/genesis.json")
    assert genesis.chain_id == "my-chain" and genesis.initial_height == 1
    assert [(v.address, v.voting_power) for v in genesis.validators] == [(validator.address, 10)]
    raw = json.loads((home / "config/genesis.json").read_text())
    assert raw["initial_height"] == "0" and raw["app_hash"] == "" and raw["validators"][0]["name"] == ""
    assert raw["consensus_params"]["abci"] == {"vote_extensions_enable_height": "0"}
    assert json.loads((home / "data/priv_validator_state.json").read_text()) == {
        "height": "0",
        "round": 0,
        "step": 0,
    }
    config = load_config(home)
    assert config.base.moniker == "alice" and config.base.proxy_app == "kvstore"
    assert config.cometsync.consensus_engine == "auto"
    assert f"node id {node_key.node_id}, chain id my-chain" in result.stdout


def test_init_is_idempotent(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run_cli("init", "--home", str(home)).returncode == 0
    before = {name: (home / name).read_bytes() for name in FILES}
    chain_id = Genesis.load(home / "config/genesis.json").chain_id
    assert chain_id.startswith("test-chain-") and len(chain_id) == len("test-chain-") + 6

    again = run_cli("init", "--home", str(home), "--chain-id", "other", "--moniker", "bob")
    assert again.returncode == 0, again.stderr
    assert {name: (home / name).read_bytes() for name in FILES} == before
    assert "created" not in again.stdout
    for name in FILES:
        assert f"found {home / name} (kept)" in again.stdout
    assert f"--chain-id other not applied, the existing genesis has chain id {chain_id}" in again.stdout
    assert "--moniker bob not applied" in again.stdout


def test_init_completes_a_partial_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run_cli("init", "--home", str(home)).returncode == 0
    key_before = (home / "config/priv_validator_key.json").read_bytes()
    (home / "config/node_key.json").unlink()
    (home / "config/config.toml").unlink()
    result = run_cli("init", "--home", str(home))
    assert result.returncode == 0, result.stderr
    assert f"created {home / 'config/node_key.json'}" in result.stdout
    assert f"created {home / 'config/config.toml'}" in result.stdout
    assert (home / "config/priv_validator_key.json").read_bytes() == key_before
    assert load_config(home).cometsync.consensus_engine == "auto"


def test_init_keeps_an_existing_cometbft_home(tmp_path: Path) -> None:
    """A home made by CometBFT v0.38.25 (its config.toml, genesis and node0's keys) is used as it is."""
    home = tmp_path / "cometbft"
    (home / "config").mkdir(parents=True)
    (home / "data").mkdir()
    shutil.copy(COMETBFT_CONFIG, home / "config/config.toml")
    shutil.copy(LOCALNET / "genesis.json", home / "config/genesis.json")
    shutil.copy(LOCALNET / "node0_node_key.json", home / "config/node_key.json")
    shutil.copy(LOCALNET / "node0_priv_validator_key.json", home / "config/priv_validator_key.json")
    (home / "data/priv_validator_state.json").write_text('{"height": "42", "round": 0, "step": 3}')
    before = {name: (home / name).read_bytes() for name in FILES}

    result = run_cli("init", "--home", str(home))
    assert result.returncode == 0, result.stderr
    assert {name: (home / name).read_bytes() for name in FILES} == before
    node0 = json.loads((LOCALNET / "nodes.json").read_text())["nodes"][0]
    assert f"node id {node0['node_id']}, chain id localnet-4v" in result.stdout
    assert result.stderr.startswith(f"note: {home / 'config/config.toml'}: ignoring ")
    assert "[mempool]" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_written_config_has_cometbft_sections(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run_cli("init", "--home", str(home)).returncode == 0
    document = tomllib.loads((home / "config/config.toml").read_text())
    assert document["p2p"]["laddr"] == "tcp://0.0.0.0:26656"
    assert document["p2p"]["flush_throttle_timeout"] == "100ms"
    assert document["blocksync"]["version"] == "v0"
    assert document["instrumentation"]["prometheus_listen_addr"] == ":26660"
    assert document["cometsync"]["window_bytes"] == 128 * 1024 * 1024


def test_bad_config_is_one_line_without_traceback(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    (home / "config/config.toml").write_text('[p2p]\nsend_rate = "fast"\n')
    result = run_cli("init", "--home", str(home))
    assert result.returncode == 1
    assert result.stderr == (
        f"error: {home / 'config/config.toml'}: [p2p] send_rate: expected an integer, got 'fast'\n"
    )
    assert not (home / "config/genesis.json").exists()


def test_bad_chain_id_and_bad_key_file_are_one_line(tmp_path: Path) -> None:
    result = run_cli("init", "--home", str(tmp_path / "a"), "--chain-id", "x" * 51)
    assert result.returncode == 1
    assert result.stderr.startswith("error: the chain id is longer than 50 characters")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "a").exists()

    home = tmp_path / "b"
    (home / "config").mkdir(parents=True)
    (home / "config/priv_validator_key.json").write_text("{not json")
    result = run_cli("init", "--home", str(home))
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {home / 'config/priv_validator_key.json'}: not valid JSON")
    assert len(result.stderr.splitlines()) == 1


def test_validator_key_without_sign_state_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run_cli("init", "--home", str(home)).returncode == 0
    (home / "data/priv_validator_state.json").unlink()
    result = run_cli("init", "--home", str(home))
    assert result.returncode == 1
    assert "priv_validator_state.json is missing" in result.stderr and "sign twice" in result.stderr
