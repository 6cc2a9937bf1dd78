"""What must happen before a node can be assembled, one stage each: identity, stores, the app, the
handshake. Each turns a user-caused failure into a `NodeStartError` naming what to change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cometsync.abci import ABCIError, GrpcABCIClient, RetryPolicy
from cometsync.config import Config, HomeError, load_genesis
from cometsync.crypto import KeyFileError, NodeKey, PrivValidatorKey, load_node_key, load_priv_validator_key
from cometsync.node.app_process import KVStoreProcess
from cometsync.node.errors import NodeStartError
from cometsync.node.reactor_types import NodeReactor
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.state import HandshakeError, Handshaker, State, StateError, StateStore
from cometsync.store import BlockStore, StoreError
from cometsync.types import Genesis

log = logging.getLogger(__name__)
StoreT = TypeVar("StoreT", BlockStore, StateStore)

BLOCKSTORE_DB = "blockstore.db"
STATE_DB = "state.db"
APP_PROBE_BUDGET_SECONDS = 5.0
BUILTIN_APP = "kvstore"


@dataclass(frozen=True)
class Identity:
    """Who the node is: its chain's genesis, its p2p key and, on a validator, its signing key."""

    genesis: Genesis
    node_key: NodeKey
    validator_key: PrivValidatorKey | None


def load_identity(config: Config) -> Identity:
    try:
        genesis = load_genesis(config.genesis_path)
        node_key = load_node_key(config.node_key_path)
        validator_key = None
        if config.priv_validator_key_path.exists():
            validator_key = load_priv_validator_key(config.priv_validator_key_path)
    except (HomeError, KeyFileError) as exc:
        raise NodeStartError(str(exc)) from None
    return Identity(genesis, node_key, validator_key)


def open_block_store(config: Config) -> BlockStore:
    return _open(config.db_path / BLOCKSTORE_DB, BlockStore.open)


def open_state_store(config: Config, genesis: Genesis) -> StateStore:
    """The state store, refused when its chain is not the genesis' chain."""
    data = config.db_path
    state_store = _open(data / STATE_DB, StateStore.open)
    try:
        stored = state_store.load()
    except StoreError as exc:
        state_store.close()
        raise NodeStartError(str(exc)) from None
    if stored is not None and stored.chain_id != genesis.chain_id:
        state_store.close()
        raise NodeStartError(
            f"genesis chain id {genesis.chain_id} does not match the stored state's "
            f"{stored.chain_id} (data in {data}); use the genesis this data was synced with, "
            "or a fresh data directory"
        )
    return state_store


def _open(path: Path, opener: Callable[[Path], StoreT]) -> StoreT:
    """The store's own typed errors (`DatabaseLocked`, `DatabaseCorrupt`) already say what to do."""
    try:
        return opener(path)
    except StoreError as exc:
        raise NodeStartError(str(exc)) from None


async def start_builtin_app(config: Config, reactor: NodeReactor) -> KVStoreProcess:
    """The kvstore app in a child process (`proxy_app = "kvstore"`); its address is `.address`."""
    process = KVStoreProcess(config.home, config.cometsync.kvstore_laddr, reactor)
    await process.start()
    return process


def app_client(address: str, reactor: NodeReactor) -> GrpcABCIClient:
    """The node's ABCI connection to the app at `address` (the one place that picks the client)."""
    return GrpcABCIClient(address, reactor=reactor)


async def probe_app(address: str, reactor: NodeReactor) -> None:
    """One Echo with a short retry budget, so an unreachable app is reported in seconds, not minutes."""
    try:
        probe = GrpcABCIClient(
            address, reactor=reactor, retry=RetryPolicy(budget_seconds=APP_PROBE_BUDGET_SECONDS)
        )
    except ValueError as exc:
        raise NodeStartError(f"proxy_app {address!r}: {exc}") from None
    try:
        await probe.echo(abci_pb2.RequestEcho(message="cometsync"))
    except ABCIError as exc:
        raise NodeStartError(f"cannot reach the ABCI app at {address}: {exc}") from None
    finally:
        probe.close()


async def handshake(
    state_store: StateStore, block_store: BlockStore, genesis: Genesis, app: GrpcABCIClient
) -> State:
    """CometBFT's handshake: Info, then InitChain or the replay of stored blocks the app lacks."""
    handshaker = Handshaker(state_store, block_store, genesis, app)
    try:
        state = await handshaker.handshake()
    except HandshakeError as exc:
        raise NodeStartError(f"handshake with the app failed: {exc}") from None
    except (ABCIError, StateError, StoreError) as exc:
        raise NodeStartError(f"handshake with the app at {app.address} failed: {exc}") from None
    if handshaker.blocks_replayed:
        log.info("replayed %d stored blocks into the app", handshaker.blocks_replayed)
    return state
