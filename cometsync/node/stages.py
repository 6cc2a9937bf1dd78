"""What must happen before a node can be assembled, one stage each: identity, stores, the app, the
handshake. Each turns a user-caused failure into a `NodeStartError` naming what to change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cometsync.abci import ABCIError
from cometsync.abci.address import BUILTIN_APPS
from cometsync.abci.connect import AppConns, open_connections, transport_for
from cometsync.config import Config, HomeError, load_genesis
from cometsync.crypto import KeyFileError, NodeKey, PrivValidatorKey, load_node_key, load_priv_validator_key
from cometsync.node.app_process import KVStoreProcess
from cometsync.node.errors import NodeStartError
from cometsync.node.reactor_types import NodeReactor
from cometsync.state import HandshakeError, Handshaker, State, StateError, StateStore
from cometsync.state.stores_check import check_stores
from cometsync.store import BlockStore, StoreError
from cometsync.types import Genesis

log = logging.getLogger(__name__)
StoreT = TypeVar("StoreT", BlockStore, StateStore)

BLOCKSTORE_DB = "blockstore.db"
STATE_DB = "state.db"


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


def check_stored_range(config: Config, block_store: BlockStore, state_store: StateStore) -> None:
    """The block store is complete and fits the state (`state.stores_check`); damage is one line naming
    the databases, the heights and what to do."""
    try:
        check_stores(block_store, state_store, state_store.load(), full=config.cometsync.full_store_check)
    except StoreError as exc:
        raise NodeStartError(str(exc)) from None


def _open(path: Path, opener: Callable[[Path], StoreT]) -> StoreT:
    """The store's own typed errors (`DatabaseLocked`, `DatabaseCorrupt`) already say what to do."""
    try:
        return opener(path)
    except StoreError as exc:
        raise NodeStartError(str(exc)) from None


def builtin_app(config: Config, reactor: NodeReactor) -> KVStoreProcess | None:
    """The (unstarted) kvstore child when `proxy_app` names a built-in app, serving the configured
    transport on `[cometsync] kvstore_laddr`; None for an address. The caller owns and stops it."""
    if config.base.proxy_app not in BUILTIN_APPS:
        return None
    transport = transport_for(config.base.abci, config.base.proxy_app)
    return KVStoreProcess(config.home, config.cometsync.kvstore_laddr, reactor, transport)


async def connect_app(config: Config, child: KVStoreProcess | None, reactor: NodeReactor) -> AppConns:
    """`[base] proxy_app` and `abci` as CometBFT reads them: with `child` (from `builtin_app`) the child is
    started and its address dialled, otherwise `proxy_app` is (the one place that picks the client)."""
    address = config.base.proxy_app
    transport = transport_for(config.base.abci, address)
    if child is not None:
        address = await child.start()
    options = config.cometsync
    try:
        return await open_connections(
            address,
            transport,
            call_timeout=options.abci_call_timeout.seconds or None,
            consensus_timeout=options.abci_consensus_timeout.seconds or None,
            reactor=reactor,
        )
    except (ABCIError, ValueError) as exc:
        prefix = "proxy_app" if isinstance(exc, ValueError) else f"cannot reach the ABCI app at {address}"
        raise NodeStartError(f"{prefix}: {exc} (abci = {transport!r})") from None


async def handshake(
    state_store: StateStore, block_store: BlockStore, genesis: Genesis, app: AppConns
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
