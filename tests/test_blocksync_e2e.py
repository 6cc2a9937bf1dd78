"""End to end over real TCP + SecretConnection on 127.0.0.1: fresh nodes sync a chain from serving nodes,
executing against the kvstore app running as a gRPC subprocess, and switch to consensus with the chain's
app hash. Chains: the session's 500-block builder chain (4 validators, txs, a validator change, absent
signers, vote extensions from 250) and the 310-block localnet chain made by real CometBFT v0.38.25."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from blocksync_fixtures import InflatingReactor, LyingReactor, tampered_store, with_flipped_tx
from builder_chain import HEIGHTS
from e2e_harness import SyncHarness
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import defer, reactor
from twisted.web.client import Agent, readBody

from cometsync.metrics import BlocksyncMetrics, listen_metrics
from cometsync.p2p.switch import Switch

# Heights holding txs: early, around the validator change, after vote extensions are on.
CORRUPT_HEIGHTS = (11, 16, 23, 101, 102, 262, 301)


class BlocksyncEndToEnd(SyncHarness):
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

    @defer.inlineCallbacks
    def test_fresh_node_syncs_cometbft_localnet_chain_over_grpc(self) -> Generator[Any, Any, None]:
        """The same sync with the app reached over gRPC instead of the socket protocol."""
        chain = self._localnet_chain()
        yield self._sync(chain, [self._server(2, chain)], transport="grpc")

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
