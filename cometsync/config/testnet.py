"""`cometsync testnet`: N validator homes (plus optional non-validators) that share one genesis and dial
each other on 127.0.0.1, each on its own block of ports.
"""

from __future__ import annotations

import random
import socket
from dataclasses import dataclass
from pathlib import Path

from cometsync.config.genesis_doc import (
    GenesisValidator,
    check_chain_id,
    genesis_document,
    random_chain_id,
    write_genesis,
)
from cometsync.config.home import HomeError, NodeKeys, ensure_layout, generate_keys
from cometsync.config.model import Config
from cometsync.config.toml_io import save_config

TESTNET_VALIDATOR_POWER = 1
TESTNET_CHAIN_ID_PREFIX = "chain-"
NODE_DIR_PREFIX = "node"
PORTS_PER_NODE = 10
LOCALHOST = "127.0.0.1"


@dataclass(frozen=True)
class NodePorts:
    """One node's ports: offsets 0, 1, 2, 4 from its base mirror CometBFT's 26656/26657/26658/26660."""

    p2p: int
    rpc: int
    app: int
    prometheus: int

    @classmethod
    def for_node(cls, starting_port: int, index: int) -> NodePorts:
        base = starting_port + PORTS_PER_NODE * index
        return cls(p2p=base, rpc=base + 1, app=base + 2, prometheus=base + 4)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((LOCALHOST, port))
        except OSError:
            return False
    return True


def free_starting_port(nodes: int, attempts: int = 200) -> int:
    """A starting port whose `nodes` port blocks (this module's layout) are all free on 127.0.0.1."""
    rng = random.Random()
    for _ in range(attempts):
        base = rng.randrange(20000, 60000, PORTS_PER_NODE)
        if all(_port_free(port) for port in range(base, base + PORTS_PER_NODE * nodes)):
            return base
    raise HomeError(f"no free block of {PORTS_PER_NODE * nodes} ports on {LOCALHOST}")


@dataclass(frozen=True)
class TestnetNode:
    """A home made by `make_testnet`."""

    config: Config
    node_id: str
    ports: NodePorts
    is_validator: bool


def make_testnet(
    output: Path,
    validators: int,
    non_validators: int = 0,
    *,
    chain_id: str | None = None,
    starting_port: int = 26656,
    populate_persistent_peers: bool = True,
    initial_height: int = 0,
) -> list[TestnetNode]:
    """Write `output/node0 .. node{N-1}`; validators come first and get power 1 each, like CometBFT's."""
    total = validators + non_validators
    _check_request(output, validators, non_validators, starting_port, total)
    chain_id = random_chain_id(TESTNET_CHAIN_ID_PREFIX) if chain_id is None else chain_id
    _check_genesis_inputs(chain_id, initial_height)
    homes = [output / f"{NODE_DIR_PREFIX}{index}" for index in range(total)]
    configs = [
        _node_config(home, index, NodePorts.for_node(starting_port, index))
        for index, home in enumerate(homes)
    ]
    keys: list[NodeKeys] = []
    for config in configs:
        ensure_layout(config)
        keys.append(generate_keys(config))
    genesis_validators = [
        GenesisValidator(keys[index].validator_key.pub_key, TESTNET_VALIDATOR_POWER, homes[index].name)
        for index in range(validators)
    ]
    document = genesis_document(chain_id, genesis_validators, initial_height=initial_height)
    addresses = [
        f"{node_keys.node_key.node_id}@{LOCALHOST}:{NodePorts.for_node(starting_port, index).p2p}"
        for index, node_keys in enumerate(keys)
    ]
    nodes = []
    for index, (config, node_keys) in enumerate(zip(configs, keys, strict=True)):
        write_genesis(config.genesis_path, document)
        if populate_persistent_peers:
            config.override("p2p.persistent_peers", ",".join(addresses[:index] + addresses[index + 1 :]))
        save_config(config)
        ports = NodePorts.for_node(starting_port, index)
        nodes.append(TestnetNode(config, node_keys.node_key.node_id, ports, index < validators))
    return nodes


def _check_request(
    output: Path, validators: int, non_validators: int, starting_port: int, total: int
) -> None:
    if validators < 1:
        raise HomeError(f"a testnet needs at least one validator, got --v {validators}")
    if non_validators < 0:
        raise HomeError(f"the number of non-validators must not be negative, got --n {non_validators}")
    last_port = NodePorts.for_node(starting_port, total - 1).prometheus
    if starting_port < 1 or last_port > 0xFFFF:
        raise HomeError(
            f"ports {starting_port}..{last_port} do not fit: {total} nodes use {PORTS_PER_NODE} ports each "
            "from --starting-port, which must leave room below 65536"
        )
    for index in range(total):
        home = output / f"{NODE_DIR_PREFIX}{index}"
        if home.exists():
            raise HomeError(f"{home} already exists: choose another --o or remove it")


def _check_genesis_inputs(chain_id: str, initial_height: int) -> None:
    """Checked before any file is written, so a bad flag leaves no half-made testnet behind."""
    try:
        check_chain_id(chain_id)
    except ValueError as exc:
        raise HomeError(str(exc)) from None
    if initial_height < 0:
        raise HomeError(f"the initial height must not be negative, got --initial-height {initial_height}")


def _node_config(home: Path, index: int, ports: NodePorts) -> Config:
    config = Config(home)
    config.override("moniker", f"{NODE_DIR_PREFIX}{index}")
    config.override("p2p.laddr", f"tcp://{LOCALHOST}:{ports.p2p}")
    config.override("p2p.allow_duplicate_ip", True)
    config.override("rpc.laddr", f"tcp://{LOCALHOST}:{ports.rpc}")
    config.override("instrumentation.prometheus_listen_addr", f"{LOCALHOST}:{ports.prometheus}")
    config.override("cometsync.kvstore_laddr", f"tcp://{LOCALHOST}:{ports.app}")
    return config
