"""BlockExecutor + Handshaker against the kvstore app as a real gRPC subprocess (through the project's
`GrpcABCIClient`), on a real CometBFT chain that ran CometBFT's own kvstore.

After every block the app hash and last_results_hash must equal the ones the next real header records;
apply_block also validates every block against the state, so all 310 localnet blocks must apply.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

from abci_process import start_kvstore, temp_home
from crash_driver import open_stores, sync_chain
from state_fixtures import LOCALNET_CHAIN
from twisted.internet import defer
from twisted.trial import unittest

from cometsync.abci import GrpcABCIClient
from cometsync.abci.kvstore.app import APP_HASH_SIZE
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.state import AppAheadOfStore, AppHashMismatch, HandshakeError, InvalidBlockForState, State
from cometsync.state.handshake import info_request
from cometsync.types import BlockID, PartSet

TIP = LOCALNET_CHAIN.tip


class ReportsUncommittedHeight:
    """Like CometBFT's Go kvstore after FinalizeBlock without Commit: Info already reports that height."""

    def __init__(self, app: GrpcABCIClient, height: int) -> None:
        self._height = height
        self.init_chain, self.finalize_block, self.commit = app.init_chain, app.finalize_block, app.commit

    def info(self, request: abci_pb2.RequestInfo) -> defer.Deferred[abci_pb2.ResponseInfo]:
        return defer.succeed(abci_pb2.ResponseInfo(last_block_height=self._height))


class KVStoreTestCase(unittest.TestCase):
    timeout = 240

    def start_app(self, home: Path) -> GrpcABCIClient:
        server = start_kvstore(home)
        self.addCleanup(server.terminate)
        app = GrpcABCIClient(server.address, app_hash_size=APP_HASH_SIZE)
        self.addCleanup(app.close)
        return app

    def setUp(self) -> None:
        self.home = temp_home(self.addCleanup)


class ExecutorOnRealChainTest(KVStoreTestCase):
    @defer.inlineCallbacks
    def test_applies_all_localnet_blocks_with_matching_hashes(self) -> Generator[Any, Any, None]:
        app = self.start_app(self.home)
        checked: list[int] = []

        def matches_next_header(state: State) -> None:
            if state.last_block_height < TIP:
                header = LOCALNET_CHAIN.block(state.last_block_height + 1).header
                self.assertEqual(state.app_hash, header.app_hash, state.last_block_height)
                self.assertEqual(state.last_results_hash, header.last_results_hash, state.last_block_height)
                checked.append(state.last_block_height)

        state = yield defer.ensureDeferred(
            sync_chain(self.home, app, LOCALNET_CHAIN, TIP, after_block=matches_next_header)
        )
        self.assertEqual(state.last_block_height, TIP)
        self.assertEqual(checked, list(range(1, TIP)))
        # 195 txs in blocks 1..310: the kvstore app hash is varint(195) in 8 bytes.
        self.assertEqual(state.app_hash, bytes([195 * 2 & 0x7F | 0x80, 195 * 2 >> 7]) + bytes(6))
        block_store, state_store = open_stores(self.home)
        try:
            # The validator power change of block 152 took effect at 154, as on the real chain.
            self.assertEqual(
                state_store.load_validators(153).hash(), LOCALNET_CHAIN.block(153).header.validators_hash
            )
            self.assertEqual(
                state_store.load_validators(154).hash(), LOCALNET_CHAIN.block(154).header.validators_hash
            )
            self.assertEqual(state.validators.hash(), LOCALNET_CHAIN.block(TIP).header.next_validators_hash)
            response = state_store.load_finalize_block_response(152)
            assert response is not None
            self.assertEqual(len(response.validator_updates), 1)
            self.assertEqual(
                state_store.load_consensus_params(TIP), LOCALNET_CHAIN.genesis().consensus_params
            )
            reloaded = state_store.load()
            assert reloaded is not None
            self.assertEqual(reloaded.to_bytes(), state.to_bytes())
        finally:
            block_store.close()
            state_store.close()
        info = yield app.info(info_request())
        self.assertEqual((info.last_block_height, info.last_block_app_hash), (TIP, state.app_hash))

    @defer.inlineCallbacks
    def test_restart_replays_nothing_and_rejects_a_foreign_app(self) -> Generator[Any, Any, None]:
        app = self.start_app(self.home)
        yield defer.ensureDeferred(sync_chain(self.home, app, LOCALNET_CHAIN, 20))
        state = yield defer.ensureDeferred(sync_chain(self.home, app, LOCALNET_CHAIN, 20))
        self.assertEqual(state.last_block_height, 20)
        # A fresh app (empty data) behind the store: the handshake replays blocks 1..20 into it.
        other_home = self.home / "other-app"
        other_home.mkdir()
        fresh = self.start_app(other_home)
        state = yield defer.ensureDeferred(sync_chain(self.home, fresh, LOCALNET_CHAIN, 25))
        self.assertEqual(state.last_block_height, 25)
        info = yield fresh.info(info_request())
        self.assertEqual(info.last_block_height, 25)
        # An app ahead of the store: refused with a message that says what to do.
        ahead_home = self.home / "ahead"
        ahead = self.start_app(ahead_home)
        yield defer.ensureDeferred(sync_chain(ahead_home, ahead, LOCALNET_CHAIN, 30))
        failure = yield self.assertFailure(
            defer.ensureDeferred(sync_chain(self.home, ahead, LOCALNET_CHAIN, 30)), AppAheadOfStore
        )
        self.assertIn("reset the app's data", str(failure))
        self.assertNotIn("restart the app first", str(failure))
        # One block ahead (the node died while the app executed the next block): restart it first.
        yield defer.ensureDeferred(sync_chain(self.home, fresh, LOCALNET_CHAIN, 29))
        failure = yield self.assertFailure(
            defer.ensureDeferred(sync_chain(self.home, ahead, LOCALNET_CHAIN, 30)), AppAheadOfStore
        )
        self.assertIn("restart the app first", str(failure))

    @defer.inlineCallbacks
    def test_app_hash_disagreement_is_refused(self) -> Generator[Any, Any, None]:
        app = self.start_app(self.home)
        yield defer.ensureDeferred(sync_chain(self.home, app, LOCALNET_CHAIN, 12))
        # Another app home at the same height but with different data (one extra kv tx committed).
        other_home = self.home / "other"
        other = self.start_app(other_home)
        yield other.init_chain(abci_pb2.RequestInitChain(chain_id="localnet-4v", initial_height=1))
        for height in range(1, 13):
            yield other.finalize_block(abci_pb2.RequestFinalizeBlock(height=height, txs=[b"k=v"]))
            yield other.commit(abci_pb2.RequestCommit())
        failure = yield self.assertFailure(
            defer.ensureDeferred(sync_chain(self.home, other, LOCALNET_CHAIN, 12)), AppHashMismatch
        )
        self.assertIn("does not belong to this node's data directory", str(failure))

    @defer.inlineCallbacks
    def test_invalid_block_is_refused_before_execution(self) -> Generator[Any, Any, None]:
        from cometsync.state import BlockExecutor, Handshaker

        app = self.start_app(self.home)
        block_store, state_store = open_stores(self.home)
        self.addCleanup(state_store.close)
        self.addCleanup(block_store.close)
        state = yield Handshaker(state_store, block_store, LOCALNET_CHAIN.genesis(), app).handshake()
        executor = BlockExecutor(state_store, block_store, app)
        block = LOCALNET_CHAIN.block(2)
        block_id = BlockID(block.hash(), PartSet.from_data(block.to_proto_bytes()).header())
        failure = yield self.assertFailure(executor.apply_block(state, block_id, block), InvalidBlockForState)
        self.assertIn("wrong height", str(failure))
        info = yield app.info(info_request())
        self.assertEqual(info.last_block_height, 0)
        self.assertIsNotNone(state_store.load())

    @defer.inlineCallbacks
    def test_app_holding_an_uncommitted_block_is_refused_with_advice(self) -> Generator[Any, Any, None]:
        app = self.start_app(self.home)
        yield defer.ensureDeferred(sync_chain(self.home, app, LOCALNET_CHAIN, 5))
        block_store, state_store = open_stores(self.home)
        block = LOCALNET_CHAIN.block(6)
        block_store.save_block(block, block.make_part_set(), LOCALNET_CHAIN.seen_commit(6), None)
        block_store.close()
        state_store.close()

        failure = yield self.assertFailure(
            defer.ensureDeferred(sync_chain(self.home, ReportsUncommittedHeight(app, 6), LOCALNET_CHAIN, 6)),
            HandshakeError,
        )
        self.assertIn("restart the app so it reloads its committed state", str(failure))
