"""The chain builder's output is a valid CometBFT chain, checked with the code that checks real chains."""

from __future__ import annotations

import base64

from abci_process import start_kvstore, temp_home
from crash_driver import open_stores
from twisted.internet import defer
from twisted.trial import unittest

from cometsync.abci.client import GrpcABCIClient
from cometsync.crypto import PrivKey
from cometsync.state import BlockExecutor, Handshaker, State, StateStore
from cometsync.store import BlockStore
from cometsync.testing import BlockPlan, ChainBuilder, DevnetSpec, kvstore_txs
from cometsync.types import BlockIDFlag, Genesis

HEIGHTS = 24
EXTENSIONS_FROM = 12
CHANGE_AT = 6  # a kvstore `val=` tx raising validator 3's power: new set signs from CHANGE_AT + 2


def validator_change(key: PrivKey, power: int) -> bytes:
    return b"val=ed25519!" + base64.b64encode(key.pub_key.key) + b"!" + str(power).encode()


class ChainBuilderTest(unittest.TestCase):
    timeout = 120

    def setUp(self) -> None:
        self.spec = DevnetSpec(chain_id="builder-test", vote_extensions_enable_height=EXTENSIONS_FROM)
        self.keys = self.spec.keys()
        self.genesis: Genesis = self.spec.genesis()

    def start_app(self) -> GrpcABCIClient:
        server = start_kvstore(temp_home(self.addCleanup))
        self.addCleanup(server.terminate)
        client = GrpcABCIClient(server.address)
        self.addCleanup(client.close)
        return client

    def plan(self, height: int) -> BlockPlan:
        txs = kvstore_txs(height, height % 4, size=40)
        if height == CHANGE_AT:
            txs.append(validator_change(self.keys[3], 25))
        # Every fifth height one of the three power-10 validators misses the commit.
        absent = {self.keys[height % 3].pub_key.address()} if height % 5 == 0 else set()
        return BlockPlan(txs=txs, absent=absent)

    @defer.inlineCallbacks
    def test_built_chain_verifies_and_replays_into_a_fresh_app(self) -> defer.Generator[object, object, None]:
        home = temp_home(self.addCleanup)
        block_store, state_store = open_stores(home)
        self.addCleanup(block_store.close)
        self.addCleanup(state_store.close)
        builder = ChainBuilder(self.genesis, self.keys, self.start_app(), block_store, state_store)
        final = yield builder.build(HEIGHTS, self.plan)
        assert isinstance(final, State)
        self.assertEqual(final.last_block_height, HEIGHTS)
        self.assertEqual(block_store.height, HEIGHTS)
        self.check_chain(block_store, state_store)

        # A fresh node with a fresh app applies the same blocks and reaches the same app hash.
        replay_home = temp_home(self.addCleanup)
        replay_blocks, replay_states = open_stores(replay_home)
        self.addCleanup(replay_blocks.close)
        self.addCleanup(replay_states.close)
        app = self.start_app()
        state = yield Handshaker(replay_states, replay_blocks, self.genesis, app).handshake()
        executor = BlockExecutor(replay_states, replay_blocks, app)
        for height in range(1, HEIGHTS + 1):
            assert isinstance(state, State)
            block = block_store.load_block(height)
            assert block is not None
            replay_blocks.save_block(
                block,
                block.make_part_set(),
                block_store.load_seen_commit(height),
                block_store.load_extended_commit(height),
            )
            state = yield executor.apply_block(state, block.block_id(), block)
        assert isinstance(state, State)
        self.assertEqual(state.app_hash, final.app_hash)
        self.assertEqual(state.last_results_hash, final.last_results_hash)

    def check_chain(self, block_store: BlockStore, state_store: StateStore) -> None:
        chain_id = self.genesis.chain_id
        absent_seen = 0
        for height in range(1, HEIGHTS + 1):
            block = block_store.load_block(height)
            meta = block_store.load_block_meta(height)
            assert block is not None and meta is not None
            block.validate_basic()
            self.assertEqual(block.block_id(), meta.block_id)
            validators = state_store.load_validators(height)
            self.assertEqual(block.header.validators_hash, validators.hash())
            self.assertEqual(block.header.proposer_address, validators.proposer.address)
            seen = block_store.load_seen_commit(height)
            assert seen is not None
            validators.verify_commit(chain_id, meta.block_id, height, seen)
            absent_seen += sum(sig.block_id_flag == BlockIDFlag.ABSENT for sig in seen.signatures)
            ext = block_store.load_extended_commit(height)
            if height >= EXTENSIONS_FROM:
                assert ext is not None
                validators.verify_commit_extended(chain_id, meta.block_id, height, ext)
            else:
                self.assertIsNone(ext)
            if height > 1:
                self.assertEqual(block.header.last_block_id, block_store.load_block_meta(height - 1).block_id)
        self.assertGreater(absent_seen, 0)
        before, after = state_store.load_validators(CHANGE_AT + 1), state_store.load_validators(CHANGE_AT + 2)
        self.assertNotEqual(before.hash(), after.hash())
        self.assertEqual(after.total_voting_power(), 10 + 10 + 10 + 25)
        proposers = {block_store.load_block(h).header.proposer_address for h in range(1, HEIGHTS + 1)}
        self.assertEqual(len(proposers), 4)
