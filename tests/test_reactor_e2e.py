"""End to end over real TCP + SecretConnection on 127.0.0.1: fresh nodes sync the 310-block localnet
chain from serving nodes (LevelDB stores built from the fixture blocks), executing against the kvstore
app running as a gRPC subprocess, and switch to consensus with the chain's app hash."""

from __future__ import annotations

import tempfile
from collections.abc import Generator
from pathlib import Path
from typing import Any

from abci_grpc_app import GrpcConsensusApp, start_kvstore, stop_process
from reactor_fixtures import LOCALNET_CHAIN, Node, tampered_store, with_flipped_tx
from twisted.internet import defer, reactor
from twisted.trial import unittest

from cometsync.consensus import DeferredHandoff, Switched
from cometsync.crypto import PrivKey
from cometsync.crypto.keyfiles import NodeKey
from cometsync.p2p.mconnection import MConnConfig
from cometsync.p2p.switch import Switch, SwitchConfig
from cometsync.pool import PoolConfig
from cometsync.reactor.codec import StatusResponse
from cometsync.reactor.reactor import BlocksyncReactor, ReactorConfig
from cometsync.state import BlockExecutor, Handshaker, State, StateStore
from cometsync.store import BlockStore, open_db

FAST_P2P = SwitchConfig(mconn=MConnConfig(send_rate=500_000_000, recv_rate=500_000_000))
QUICK = ReactorConfig(status_interval=0.5, switch_interval=0.2, pool=PoolConfig(peer_conn_wait=0.3))


class LyingReactor(BlocksyncReactor[State]):
    """Claims a huge height in its first status, then tells the truth (GHSA-22qq-3xwm-r5x4's attack)."""

    lied = False

    def _status(self) -> StatusResponse:
        if not self.lied:
            self.lied = True
            return StatusResponse(height=10**9, base=1)
        return super()._status()


class _Serving:
    def switch_to_consensus(self, state: State, blocks_synced: int) -> None:
        raise AssertionError("serving nodes do not sync")


class BlocksyncEndToEnd(unittest.TestCase):
    timeout = 120

    def setUp(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="cometsync-e2e-"))
        self.honest = Node(self.home / "honest", LOCALNET_CHAIN)
        self.honest.apply_chain(LOCALNET_CHAIN.tip)
        self.addCleanup(self.honest.close)

    def _switch(self, seed: int, blocksync: BlocksyncReactor[State]) -> Switch:
        switch = Switch(NodeKey(PrivKey(bytes([seed]) * 32)), "localnet-4v", f"n{seed}", FAST_P2P, reactor)
        switch.add_reactor("BLOCKSYNC", blocksync)
        switch.listen("127.0.0.1", 0)
        self.addCleanup(switch.stop)
        self.addCleanup(blocksync.stop)
        return switch

    def _server(
        self, seed: int, store: BlockStore, cls: type[BlocksyncReactor[State]] = BlocksyncReactor
    ) -> Switch:
        served = cls(self.honest.state, store, self.honest.executor, _Serving(), reactor, config=QUICK)
        served.start(blocksync=False)
        return self._switch(seed, served)

    @defer.inlineCallbacks
    def _syncer(self) -> Generator[Any, Any, tuple[BlocksyncReactor[State], DeferredHandoff[State], Switch]]:
        proc, address = start_kvstore(self.home / "kvstore")
        self.addCleanup(stop_process, proc)
        app = GrpcConsensusApp(address)
        self.addCleanup(app.close)
        block_store = BlockStore(open_db(self.home / "syncer" / "blockstore.db"))
        state_store = StateStore(open_db(self.home / "syncer" / "state.db"))
        self.addCleanup(block_store.close)
        self.addCleanup(state_store.close)
        state = yield Handshaker(state_store, block_store, LOCALNET_CHAIN.genesis(), app).handshake()
        executor = BlockExecutor(state_store, block_store, app)
        handoff: DeferredHandoff[State] = DeferredHandoff()
        syncer = BlocksyncReactor(state, block_store, executor, handoff, reactor, config=QUICK,
                                  call_from_thread=reactor.callFromThread)
        switch = self._switch(1, syncer)
        return syncer, handoff, switch

    def _check_synced(self, switched: Switched[State], syncer: BlocksyncReactor[State]) -> None:
        state = switched.state
        self.assertGreaterEqual(state.last_block_height, LOCALNET_CHAIN.tip - 2)
        self.assertEqual(switched.blocks_synced, state.last_block_height)
        next_header = LOCALNET_CHAIN.block(state.last_block_height + 1).header
        self.assertEqual(state.app_hash, next_header.app_hash)
        self.assertEqual(state.last_results_hash, next_header.last_results_hash)
        self.assertEqual(syncer.store.height, state.last_block_height)

    @defer.inlineCallbacks
    def test_fresh_node_syncs_from_one_peer(self) -> Generator[Any, Any, None]:
        server = self._server(2, self.honest.block_store)
        syncer, handoff, switch = yield self._syncer()
        syncer.start()
        switch.dial_peers([_address(server)], persistent=False)
        switched = yield handoff.switched
        self._check_synced(switched, syncer)

    @defer.inlineCallbacks
    def test_sync_completes_and_bad_peers_are_banned(self) -> Generator[Any, Any, None]:
        """Three serving peers: one honest, one with flipped txs in blocks, one lying about its height."""
        corrupt_blocks = {h: with_flipped_tx(LOCALNET_CHAIN.block(h)) for h in (11, 16, 19, 23, 27, 31)}
        corrupt_store = tampered_store(self.home / "corrupt.db", LOCALNET_CHAIN, 310, corrupt_blocks)
        self.addCleanup(corrupt_store.close)
        servers = {
            "honest": self._server(2, self.honest.block_store),
            "corrupt": self._server(3, corrupt_store),
            "liar": self._server(4, self.honest.block_store, LyingReactor),
        }
        syncer, handoff, switch = yield self._syncer()
        syncer.start()
        switch.dial_peers(
            [_address(s) for s in servers.values()],
            persistent=False,
        )
        switched = yield handoff.switched
        self._check_synced(switched, syncer)
        self.assertTrue(syncer.pool.is_peer_banned(servers["liar"].node_key.node_id))
        corrupt_id = servers["corrupt"].node_key.node_id
        self.assertTrue(syncer.pool.is_peer_banned(corrupt_id))
        self.assertTrue(switch.is_banned(corrupt_id))
        self.assertFalse(syncer.pool.is_peer_banned(servers["honest"].node_key.node_id))


def _address(switch: Switch) -> str:
    return f"{switch.node_key.node_id}@{switch.listen_addr.removeprefix('tcp://')}"
