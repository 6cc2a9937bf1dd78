"""End to end over real TCP + SecretConnection on 127.0.0.1: fresh nodes sync a chain from serving nodes,
executing against the kvstore app running as a gRPC subprocess, and switch to consensus with the chain's
app hash. Chains: the session's 500-block builder chain (4 validators, txs, a validator change, absent
signers, vote extensions from 250) and the 310-block localnet chain made by real CometBFT v0.38.25."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from blocksync_fixtures import LyingReactor, tampered_store, with_flipped_tx
from builder_chain import HEIGHTS
from e2e_harness import SyncHarness
from twisted.internet import defer

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

    def _check_bans(self, servers: dict[str, Switch]) -> None:
        pool = self.syncer.pool
        self.assertTrue(pool.is_peer_banned(servers["liar"].node_key.node_id))
        corrupt_id = servers["corrupt"].node_key.node_id
        self.assertTrue(pool.is_peer_banned(corrupt_id))
        self.assertTrue(self.syncer_switch.is_banned(corrupt_id))
        honest_id = servers["honest"].node_key.node_id
        self.assertFalse(pool.is_peer_banned(honest_id))
        self.assertFalse(self.syncer_switch.is_banned(honest_id))
