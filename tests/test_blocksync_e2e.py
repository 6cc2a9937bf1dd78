"""End to end over real TCP + SecretConnection on 127.0.0.1: fresh nodes sync a chain from serving nodes,
executing against the kvstore app running as a gRPC subprocess, and switch to consensus with the chain's
app hash. Chains: the session's 500-block builder chain (4 validators, txs, a validator change, absent
signers, vote extensions from 250) and the 310-block localnet chain made by real CometBFT v0.38.25."""

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
    InflatingReactor,
    InProcessApp,
    LyingReactor,
    Node,
    StoredChain,
    tampered_store,
    with_flipped_tx,
)
from builder_chain import CHANGED_POWER, EXTENSIONS_FROM, HEIGHTS, SPEC, BuiltChain, builder_chain
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import defer, reactor
from twisted.trial import unittest
from twisted.web.client import Agent, readBody

from cometsync.abci import GrpcABCIClient
from cometsync.blocksync.handoff import DeferredHandoff, Switched
from cometsync.blocksync.reactor import BlocksyncReactor, ReactorConfig
from cometsync.crypto import PrivKey
from cometsync.crypto.keyfiles import NodeKey
from cometsync.metrics import BlocksyncMetrics, listen_metrics
from cometsync.p2p.switch import Switch
from cometsync.pool import PoolConfig
from cometsync.state import BlockExecutor, Handshaker, State, StateStore
from cometsync.store import BlockStore
from cometsync.types import Genesis

QUICK = ReactorConfig(status_interval=0.5, switch_interval=0.2, pool=PoolConfig(peer_conn_wait=0.3))
# Heights holding txs: early, around the validator change, after vote extensions are on.
CORRUPT_HEIGHTS = (11, 16, 23, 101, 102, 262, 301)


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


class BlocksyncEndToEnd(unittest.TestCase):
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
        self, genesis: Genesis
    ) -> Generator[Any, Any, tuple[BlocksyncReactor[State], DeferredHandoff[State], Switch]]:
        server = start_kvstore(self.home / "kvstore")
        self.addCleanup(server.terminate)
        app = GrpcABCIClient(server.address)
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
    def _sync(self, chain: ServedChain, servers: list[Switch]) -> Generator[Any, Any, Switched[State]]:
        syncer, handoff, switch = yield self._syncer(chain.genesis)
        self.syncer, self.syncer_switch = syncer, switch
        syncer.start()
        switch.dial_peers([_address(s) for s in servers], persistent=False)
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

    # ------------------------------------------------------------------ tests

    @defer.inlineCallbacks
    def test_fresh_node_syncs_builder_chain_from_one_peer(self) -> Generator[Any, Any, None]:
        chain = yield self._builder_chain()
        self.assertEqual(chain.store.height, HEIGHTS)
        switched = yield self._sync(chain, [self._server(2, chain)])
        self._check_builder_chain_details(switched.state, self.syncer)

    @defer.inlineCallbacks
    def test_builder_chain_sync_completes_and_bad_peers_are_banned(self) -> Generator[Any, Any, None]:
        """Three serving peers: one honest, one with flipped txs in blocks, one lying about its height."""
        chain = yield self._builder_chain()
        corrupt_blocks = {h: with_flipped_tx(chain.blocks.block(h)) for h in CORRUPT_HEIGHTS}
        corrupt_store = tampered_store(self.home / "corrupt.db", chain.blocks, HEIGHTS, corrupt_blocks)
        self.addCleanup(corrupt_store.close)
        servers = {
            "honest": self._server(2, chain),
            "corrupt": self._server(3, chain, corrupt_store),
            "liar": self._server(4, chain, cls=LyingReactor),
        }
        switched = yield self._sync(chain, list(servers.values()))
        self._check_builder_chain_details(switched.state, self.syncer)
        self._check_bans(servers)

    @defer.inlineCallbacks
    def test_fresh_node_syncs_cometbft_localnet_chain(self) -> Generator[Any, Any, None]:
        """The 310-block chain real CometBFT v0.38.25 validators produced, served by one cometsync node."""
        chain = self._localnet_chain()
        yield self._sync(chain, [self._server(2, chain)])

    @defer.inlineCallbacks
    def test_liar_refusing_heights_it_claims_is_dropped_and_the_node_switches(
        self,
    ) -> Generator[Any, Any, None]:
        """Issue 13: a peer claiming 10^9 and answering NoBlockResponse above the real tip. The node reaches
        the tip, bans and disconnects it, and switches; the Prometheus endpoint shows the ban and timings."""
        chain = self._localnet_chain()
        liar = self._server(3, chain, cls=InflatingReactor)
        switched = yield self._sync(chain, [self._server(2, chain), liar])
        self.assertEqual(switched.state.last_block_height, chain.store.height - 1)
        liar_id = liar.node_key.node_id
        self.assertTrue(self.syncer.pool.is_peer_banned(liar_id))
        self.assertTrue(self.syncer_switch.is_banned(liar_id))
        self.assertNotIn(liar_id, [p.id for p in self.syncer_switch.peers])
        scraped = yield self._scrape_metrics(chain.genesis.chain_id)
        self.assertGreaterEqual(scraped["cometsync_blocksync_peer_bans_total"], 1)
        for timing in ("verify", "apply"):
            self.assertEqual(scraped[f"cometsync_blocksync_{timing}_seconds_count"], switched.blocks_synced)
            self.assertGreater(scraped[f"cometsync_blocksync_{timing}_seconds_sum"], 0)

    @defer.inlineCallbacks
    def _scrape_metrics(self, chain_id: str) -> Generator[Any, Any, dict[str, float]]:
        """GET /metrics of the syncer over HTTP; sample name -> value (label chain_id)."""
        metrics = BlocksyncMetrics(chain_id, self.syncer.metrics, reactor, pool=self.syncer.pool)
        port = listen_metrics("127.0.0.1:0", metrics, reactor)
        self.addCleanup(port.stopListening)
        url = f"http://127.0.0.1:{port.getHost().port}/metrics"
        response = yield Agent(reactor).request(b"GET", url.encode())
        text = (yield readBody(response)).decode()
        return {
            sample.name: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.labels == {"chain_id": chain_id}
        }

    def _check_bans(self, servers: dict[str, Switch]) -> None:
        pool = self.syncer.pool
        self.assertTrue(pool.is_peer_banned(servers["liar"].node_key.node_id))
        self.assertTrue(self.syncer_switch.is_banned(servers["liar"].node_key.node_id))
        corrupt_id = servers["corrupt"].node_key.node_id
        self.assertTrue(pool.is_peer_banned(corrupt_id))
        self.assertTrue(self.syncer_switch.is_banned(corrupt_id))
        honest_id = servers["honest"].node_key.node_id
        self.assertFalse(pool.is_peer_banned(honest_id))
        self.assertFalse(self.syncer_switch.is_banned(honest_id))


def _address(switch: Switch) -> str:
    return f"{switch.node_key.node_id}@{switch.listen_addr.removeprefix('tcp://')}"
