"""`cometsync testnet` run as a subprocess: N homes with one genesis, distinct 127.0.0.1 ports, and
persistent peers that name each other's node ids."""

from __future__ import annotations

import json
from pathlib import Path

from test_cli_init import mode, run_cli

from cometsync.config import load_config
from cometsync.crypto import load_node_key, load_priv_validator_key
from cometsync.p2p.netaddress import NetAddress
from cometsync.types import Genesis


def test_testnet_of_three_validators_and_one_follower(tmp_path: Path) -> None:
    output = tmp_path / "net"
    result = run_cli(
        "testnet",
        "--v",
        "3",
        "--n",
        "1",
        "--o",
        str(output),
        "--chain-id",
        "net-1",
        "--starting-port",
        "31000",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("Successfully initialized 4 node directories")
    homes = [output / f"node{index}" for index in range(4)]
    assert sorted(path.name for path in output.iterdir()) == [home.name for home in homes]

    genesis_bytes = {(home / "config/genesis.json").read_bytes() for home in homes}
    assert len(genesis_bytes) == 1
    genesis = Genesis.load(homes[0] / "config/genesis.json")
    assert genesis.chain_id == "net-1"
    validator_keys = [load_priv_validator_key(home / "config/priv_validator_key.json") for home in homes]
    assert [(v.address, v.voting_power) for v in genesis.validators] == [
        (key.address, 1) for key in validator_keys[:3]
    ]
    names = [entry["name"] for entry in json.loads(next(iter(genesis_bytes)))["validators"]]
    assert names == ["node0", "node1", "node2"]

    node_ids = [load_node_key(home / "config/node_key.json").node_id for home in homes]
    configs = [load_config(home, notice=lambda text: None) for home in homes]
    ports: list[int] = []
    for index, config in enumerate(configs):
        base = 31000 + 10 * index
        assert config.base.moniker == f"node{index}"
        assert config.p2p.laddr == f"tcp://127.0.0.1:{base}"
        assert config.rpc.laddr == f"tcp://127.0.0.1:{base + 1}"
        assert config.cometsync.kvstore_laddr == f"tcp://127.0.0.1:{base + 2}"
        assert config.instrumentation.prometheus_listen_addr == f"127.0.0.1:{base + 4}"
        assert config.p2p.allow_duplicate_ip is True
        assert config.cometsync.consensus_engine == "auto"
        ports += [base, base + 1, base + 2, base + 4]
        peers = [NetAddress.parse(entry) for entry in config.p2p.persistent_peers.split(",")]
        expected = [(node_ids[other], 31000 + 10 * other) for other in range(4) if other != index]
        assert [(peer.node_id, peer.port) for peer in peers] == expected
        assert {peer.host for peer in peers} == {"127.0.0.1"}
        assert (
            f"node{index}: {'validator' if index < 3 else 'non-validator'}, id {node_ids[index]}"
            in result.stdout
        )
        assert mode(homes[index] / "config/priv_validator_key.json") == 0o600
        assert (homes[index] / "data/priv_validator_state.json").is_file()
    assert len(set(ports)) == len(ports)
    assert len(set(node_ids)) == 4


def test_single_validator_testnet_produces_blocks_itself(tmp_path: Path) -> None:
    result = run_cli("testnet", "--v", "1", "--o", str(tmp_path), "--no-populate-persistent-peers")
    assert result.returncode == 0, result.stderr
    config = load_config(tmp_path / "node0")
    assert config.cometsync.consensus_engine == "auto"
    assert config.p2p.persistent_peers == ""
    assert config.p2p.laddr == "tcp://127.0.0.1:26656"
    assert Genesis.load(tmp_path / "node0/config/genesis.json").chain_id.startswith("chain-")


def test_testnet_refuses_to_overwrite_and_bad_requests(tmp_path: Path) -> None:
    assert run_cli("testnet", "--v", "2", "--o", str(tmp_path)).returncode == 0
    again = run_cli("testnet", "--v", "2", "--o", str(tmp_path))
    assert again.returncode == 1
    assert again.stderr == f"error: {tmp_path / 'node0'} already exists: choose another --o or remove it\n"

    for args, message in [
        (("--v", "0"), "error: a testnet needs at least one validator"),
        (("--v", "2", "--starting-port", "65530"), "error: ports 65530..65544 do not fit"),
        (("--v", "1", "--n", "-1"), "error: the number of non-validators must not be negative"),
        (("--v", "1", "--chain-id", ""), "error: the chain id must not be empty"),
        (("--v", "1", "--initial-height", "-2"), "error: the initial height must not be negative"),
    ]:
        result = run_cli("testnet", *args, "--o", str(tmp_path / "other"))
        assert result.returncode == 1
        assert result.stderr.startswith(message), result.stderr
        assert len(result.stderr.splitlines()) == 1
        assert not (tmp_path / "other").exists()
