"""`cometsync testnet`: homes for a local network whose nodes peer with each other on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cometsync.cli.init_cmd import fail
from cometsync.config import ConfigError, HomeError, make_testnet
from cometsync.crypto import KeyFileError


def testnet(
    validators: Annotated[int, typer.Option("--v", help="Number of validators (power 1 each)")] = 4,
    non_validators: Annotated[int, typer.Option("--n", help="Number of non-validators")] = 0,
    output: Annotated[Path, typer.Option("--o", help="Directory to create node0 .. nodeN-1 in")] = Path(
        "./mytestnet"
    ),
    chain_id: Annotated[
        str | None, typer.Option("--chain-id", help="Chain id [default: chain-<random>]")
    ] = None,
    starting_port: Annotated[
        int,
        typer.Option(
            "--starting-port",
            help="node i uses P+10i (p2p), P+10i+1 (rpc), P+10i+2 (kvstore app), P+10i+4 (prometheus)",
        ),
    ] = 26656,
    populate_persistent_peers: Annotated[
        bool,
        typer.Option(
            "--populate-persistent-peers/--no-populate-persistent-peers",
            help="Fill each node's p2p.persistent_peers with all other nodes",
        ),
    ] = True,
    initial_height: Annotated[int, typer.Option("--initial-height", help="Height of the first block")] = 0,
) -> None:
    """Initialize files for a local testnet: one shared genesis, distinct 127.0.0.1 ports per node."""
    try:
        nodes = make_testnet(
            output,
            validators,
            non_validators,
            chain_id=chain_id,
            starting_port=starting_port,
            populate_persistent_peers=populate_persistent_peers,
            initial_height=initial_height,
        )
    except (ConfigError, HomeError, KeyFileError) as exc:
        raise fail(str(exc)) from None
    for node in nodes:
        role = "validator" if node.is_validator else "non-validator"
        typer.echo(
            f"{node.config.home.name}: {role}, id {node.node_id}, p2p 127.0.0.1:{node.ports.p2p}, "
            f"rpc 127.0.0.1:{node.ports.rpc}, app 127.0.0.1:{node.ports.app}"
        )
    typer.echo(f"Successfully initialized {len(nodes)} node directories")
