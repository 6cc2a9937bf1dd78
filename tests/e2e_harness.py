"""The end-to-end harness: serving nodes and a fresh syncing node (kvstore over gRPC in a subprocess) on
real TCP + SecretConnection, for the sync tests and the attack tests."""

from __future__ import annotations

import tempfile
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abci_process import start_kvstore
from blocksync_fixtures import (
    LOCALNET_CHAIN,
    ChainSource,
    InProcessApp,
    Node,
    StoredChain,
)
from builder_chain import CHANGED_POWER, EXTENSIONS_FROM, SPEC, BuiltChain, builder_chain
from twisted.internet import defer, reactor
from twisted.trial import unittest

from cometsync.abci.connect import open_connections
from cometsync.blocksync.handoff import DeferredHandoff, Switched
from cometsync.blocksync.reactor import BlocksyncReactor, ReactorConfig
from cometsync.crypto import PrivKey
from cometsync.crypto.keyfiles import NodeKey
from cometsync.p2p.switch import Switch
from cometsync.pool import PoolConfig
from cometsync.state import BlockExecutor, Handshaker, State, StateStore
from cometsync.store import BlockStore
from cometsync.types import Genesis

QUICK = ReactorConfig(status_interval=0.5, switch_interval=0.2, pool=PoolConfig(peer_conn_wait=0.3))


class _Serving:
    def switch_to_consensus(self, state: State, blocks_synced: int) -> None:
        raise AssertionError("serving nodes do not sync")


@dataclass(frozen=True)
class ServedChain:
    """What serving nodes hold: the chain's state, its block store, and the blocks for checks."""

    genesis: Genesis
    state: State
    store: BlockStore
    executor: BlockExecutor
    blocks: ChainSource
    final_app_hash: bytes


class SyncHarness(unittest.TestCase):
    """Serving nodes and a syncing node over real TCP; subclasses add the tests."""

    timeout = 120

    def setUp(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="cometsync-e2e-"))

    # ------------------------------------------------------------------ chains

    @defer.inlineCallbacks
    def _builder_chain(self) -> Generator[Any, Any, ServedChain]:
        built = yield builder_chain()
        assert isinstance(built, BuiltChain)
        block_store, state_store = built.copy_to(self.home / "served")
        self.addCleanup(block_store.close)
        self.addCleanup(state_store.close)
        state = state_store.load()
        assert state is not None
        executor = BlockExecutor(state_store, block_store, InProcessApp())  # type: ignore[arg-type]
        return ServedChain(
            SPEC.genesis(), state, block_store, executor, StoredChain(block_store), built.final.app_hash
        )

    def _localnet_chain(self) -> ServedChain:
        node = Node(self.home / "honest", LOCALNET_CHAIN)
        node.apply_chain(LOCALNET_CHAIN.tip)
        self.addCleanup(node.close)
        return ServedChain(
            LOCALNET_CHAIN.genesis(),
            node.state,
            node.block_store,
            node.executor,
            LOCALNET_CHAIN,
            node.state.app_hash,
        )

    # ------------------------------------------------------------------ nodes

    def _switch(self, seed: int, network: str, blocksync: BlocksyncReactor[State]) -> Switch:
        """A node's Switch with CometBFT's default [p2p] settings (what `cometsync start` uses)."""
        switch = Switch(NodeKey(PrivKey(bytes([seed]) * 32)), network, f"n{seed}", reactor=reactor)
        switch.add_reactor("BLOCKSYNC", blocksync)
        switch.listen("127.0.0.1", 0)
        self.addCleanup(switch.stop)
        self.addCleanup(blocksync.stop)
        return switch

    def _server(
        self,
        seed: int,
        chain: ServedChain,
        store: BlockStore | None = None,
        cls: type[BlocksyncReactor[State]] = BlocksyncReactor,
    ) -> Switch:
        served = cls(chain.state, store or chain.store, chain.executor, _Serving(), reactor, config=QUICK)
        served.start(blocksync=False)
        return self._switch(seed, chain.genesis.chain_id, served)

    @defer.inlineCallbacks
    def _syncer(
        self, genesis: Genesis, transport: str = "socket"
    ) -> Generator[Any, Any, tuple[BlocksyncReactor[State], DeferredHandoff[State], Switch]]:
        server = start_kvstore(self.home / "kvstore", transport=transport)
        self.addCleanup(server.terminate)
        app = yield defer.ensureDeferred(open_connections(server.address, transport))
        self.addCleanup(app.close)
        (self.home / "syncer").mkdir()
        block_store = BlockStore.open(self.home / "syncer" / "blockstore.db")
        state_store = StateStore.open(self.home / "syncer" / "state.db")
        self.addCleanup(block_store.close)
        self.addCleanup(state_store.close)
        state = yield Handshaker(state_store, block_store, genesis, app).handshake()
        executor = BlockExecutor(state_store, block_store, app)
        handoff: DeferredHandoff[State] = DeferredHandoff()
        syncer = BlocksyncReactor(
            state,
            block_store,
            executor,
            handoff,
            reactor,
            config=QUICK,
            call_from_thread=reactor.callFromThread,
        )
        switch = self._switch(1, genesis.chain_id, syncer)
        return syncer, handoff, switch

    @defer.inlineCallbacks
    def _sync(
        self, chain: ServedChain, servers: list[Switch], transport: str = "socket"
    ) -> Generator[Any, Any, Switched[State]]:
        """Sync a fresh node from `servers` into a kvstore process reached over `transport`."""
        syncer, handoff, switch = yield self._syncer(chain.genesis, transport)
        self.syncer, self.syncer_switch = syncer, switch
        syncer.start()
        switch.dial_peers([address_of(s) for s in servers], persistent=False)
        switched = yield handoff.switched
        self._check_synced(chain, switched, syncer)
        return switched

    def _check_synced(
        self, chain: ServedChain, switched: Switched[State], syncer: BlocksyncReactor[State]
    ) -> None:
        """Synced to the tip (or one below: the tip has no proof yet) with the chain's app hash."""
        state = switched.state
        tip = chain.store.height
        self.assertGreaterEqual(state.last_block_height, tip - 1)
        self.assertEqual(switched.blocks_synced, state.last_block_height)
        self.assertEqual(syncer.store.height, state.last_block_height)
        if state.last_block_height < tip:
            next_header = chain.blocks.block(state.last_block_height + 1).header
            self.assertEqual(state.app_hash, next_header.app_hash)
            self.assertEqual(state.last_results_hash, next_header.last_results_hash)
        else:
            self.assertEqual(state.app_hash, chain.final_app_hash)

    def _check_builder_chain_details(self, state: State, syncer: BlocksyncReactor[State]) -> None:
        """The validator change was applied, and consensus gets the last block's extended commit."""
        self.assertEqual(state.validators.total_voting_power(), 30 + CHANGED_POWER)
        self.assertGreaterEqual(state.last_block_height, EXTENSIONS_FROM)
        self.assertIsNotNone(syncer.store.load_extended_commit(state.last_block_height))
        self.assertIsNone(syncer.store.load_extended_commit(EXTENSIONS_FROM - 1))


def address_of(switch: Switch) -> str:
    return f"{switch.node_key.node_id}@{switch.listen_addr.removeprefix('tcp://')}"
