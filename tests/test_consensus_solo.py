"""`solo` makes a valid CometBFT chain from its mempool on a `task.Clock`; it refuses without > 2/3 power."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import pytest
from abci_process import start_kvstore, temp_home
from blocksync_fixtures import fired
from consensus_fixtures import DevnetNode, ProposingApp, clock_at, devnet, replay_with_blocksync_checks
from twisted.internet import defer, task
from twisted.trial import unittest

from cometsync.abci.client import GrpcABCIClient
from cometsync.config import Config
from cometsync.config.duration import Duration
from cometsync.consensus.block_step import CommittedBlock
from cometsync.consensus.engine import EngineError, load_engine
from cometsync.consensus.solo import InsufficientSigningPower, SoloEngine
from cometsync.crypto.keyfiles import PrivValidatorKey
from cometsync.crypto.sign_state import STEP_PRECOMMIT, LastSignState, SignStateFile
from cometsync.mempool import Mempool, TxInCache
from cometsync.state import State
from cometsync.types import BlockIDFlag

BLOCKS = 8
EXTENSIONS_FROM = 4


class SoloWithKVStoreTest(unittest.TestCase):
    """Three of four validators (75% of the power) held by one node, the real kvstore over gRPC."""

    timeout = 60

    @defer.inlineCallbacks
    def test_produces_blocks_with_broadcast_txs_that_blocksync_accepts(
        self,
    ) -> defer.Generator[object, object, None]:
        genesis, keys = devnet("solo-test", (10, 10, 10, 10), EXTENSIONS_FROM)
        server = start_kvstore(temp_home(self.addCleanup))
        self.addCleanup(server.terminate)
        client = GrpcABCIClient(server.address)
        self.addCleanup(client.close)
        home = temp_home(self.addCleanup)
        node = DevnetNode(home / "producer", genesis, client)
        self.addCleanup(node.close)
        state = yield node.handshake()
        assert isinstance(state, State)
        mempool = Mempool(client)
        clock = clock_at(genesis, after_seconds=60)
        engine = SoloEngine(node.context(clock, mempool), keys=keys[:3])
        committed: defer.DeferredQueue[CommittedBlock] = defer.DeferredQueue()
        engine.on_block = committed.put
        engine.start()
        engine.switch_to_consensus(state, 0)

        sent: list[bytes] = []
        for height in range(1, BLOCKS + 1):
            for i in range(height % 3):
                tx = f"h{height}-{i}=v{i}".encode()
                response = yield mempool.check_tx(tx)
                self.assertEqual(response.code, 0)  # type: ignore[attr-defined]
                sent.append(tx)
            if height == 2:
                with pytest.raises(TxInCache):
                    yield mempool.check_tx(sent[0])
            clock.advance(1.0)
            block = yield committed.get()
            assert isinstance(block, CommittedBlock)
            self.assertEqual(block.block.height, height)
            self.assertEqual(mempool.size(), 0)

        self.assertEqual(engine.height, BLOCKS)
        self.assertEqual(engine.status()["blocks_produced"], BLOCKS)
        included = [tx for h in range(1, BLOCKS + 1) for tx in node.block_store.load_block(h).txs]  # type: ignore[union-attr]
        self.assertEqual(included, sent)
        self.check_commits(node, keys[3].pub_key.address())
        replayed = replay_with_blocksync_checks(node.block_store, genesis, home / "replay", BLOCKS)
        final = engine.last_state
        assert final is not None
        self.assertEqual(replayed.last_block_height, BLOCKS - 1)
        # Block BLOCKS carries the app hash and results after BLOCKS - 1: the replay reached both.
        last_header = node.block_store.load_block(BLOCKS).header  # type: ignore[union-attr]
        self.assertEqual(replayed.app_hash, last_header.app_hash)
        self.assertEqual(replayed.last_results_hash, last_header.last_results_hash)
        yield engine.stop()

    def check_commits(self, node: DevnetNode, missing: bytes) -> None:
        """Seen/extended commits as CometBFT stores them; votes at wall-clock time, after the block."""
        for height in range(1, BLOCKS + 1):
            meta = node.block_store.load_block_meta(height)
            seen = node.block_store.load_seen_commit(height)
            assert meta is not None and seen is not None
            validators = node.state_store.load_validators(height)
            validators.verify_commit(node.genesis.chain_id, meta.block_id, height, seen)
            pairs = zip(validators.validators, seen.signatures, strict=True)
            flags = {v.address: s.block_id_flag for v, s in pairs}
            self.assertEqual(flags[missing], BlockIDFlag.ABSENT)
            for sig in seen.signatures:
                if sig.block_id_flag == BlockIDFlag.COMMIT:
                    self.assertGreater(sig.timestamp.unix_nanos(), meta.header.time.unix_nanos())
            ext = node.block_store.load_extended_commit(height)
            if height >= EXTENSIONS_FROM:
                assert ext is not None
                validators.verify_commit_extended(node.genesis.chain_id, meta.block_id, height, ext)
            else:
                self.assertIsNone(ext)


def solo_node(tmp_path: Path, powers: tuple[int, ...]) -> tuple[DevnetNode, list[PrivValidatorKey]]:
    genesis, keys = devnet("solo-power", powers)
    node = DevnetNode(tmp_path, genesis, ProposingApp())
    return node, [PrivValidatorKey(key) for key in keys]


def test_refuses_to_produce_with_two_thirds_of_the_power_or_less(tmp_path: Path) -> None:
    node, keys = solo_node(tmp_path, (20, 10))  # exactly 2/3 is not enough
    try:
        clock = clock_at(node.genesis)
        ctx = node.context(clock, priv_validator=keys[0])
        engine = load_engine("solo")(ctx)
        with pytest.raises(InsufficientSigningPower, match="20 of 30 voting power"):
            engine.start()
        state = fired(node.handshake())
        with pytest.raises(InsufficientSigningPower):
            engine.switch_to_consensus(state, 0)
        no_key = load_engine("solo")(node.context(clock))
        with pytest.raises(InsufficientSigningPower, match="no validator key"):
            no_key.start()
        assert node.block_store.height == 0
    finally:
        node.close()


def test_single_validator_from_its_key_file_every_timeout_commit(tmp_path: Path) -> None:
    node, keys = solo_node(tmp_path, (7,))
    try:
        clock = clock_at(node.genesis)
        config = Config(home=tmp_path)
        config.override("consensus.timeout_commit", "250ms")
        ctx = node.context(clock, config=config, priv_validator=keys[0])
        engine = load_engine("solo")(ctx)
        engine.start()
        engine.switch_to_consensus(fired(node.handshake()), 0)
        clock.advance(0.2)
        assert engine.height == 0
        for height in range(1, 5):
            clock.advance(0.25)
            assert engine.height == height == node.block_store.height
        times = [node.block_store.load_block(h).header.time.unix_nanos() for h in range(1, 5)]  # type: ignore[union-attr]
        assert times[0] == node.genesis.genesis_time.unix_nanos()
        assert all(later > earlier for earlier, later in itertools.pairwise(times))
        fired(engine.stop())  # type: ignore[arg-type]
        clock.advance(1.0)
        assert node.block_store.height == 4
    finally:
        node.close()


def test_without_empty_blocks_waits_for_txs_after_the_proof_blocks(tmp_path: Path) -> None:
    node, keys = solo_node(tmp_path, (7,))
    try:
        clock = clock_at(node.genesis)
        config = Config(home=tmp_path)
        config.consensus = dataclasses.replace(config.consensus, create_empty_blocks=False)
        mempool = Mempool(node.app)  # type: ignore[arg-type]
        ctx = node.context(clock, mempool, config, priv_validator=keys[0])
        engine = SoloEngine(ctx)
        engine.switch_to_consensus(fired(node.handshake()), 0)
        clock.pump([1.0] * 5)
        assert node.block_store.height == 1  # the first block is a proof block; then nothing to do
        mempool.check_tx(b"k=v")
        clock.pump([0.1] * 25)
        # The tx block changes the app hash, so one more (empty) block must prove it; then quiet again.
        assert node.block_store.height == 3
        assert node.block_store.load_block(2).txs == (b"k=v",)  # type: ignore[union-attr]
        assert engine.status()["mempool_size"] == 0
        config.consensus = dataclasses.replace(
            config.consensus, create_empty_blocks_interval=Duration.of_seconds(2.0)
        )
        clock.pump([0.1] * 25)
        assert node.block_store.height == 4
    finally:
        node.close()


def _solo_with_state_file(
    tmp_path: Path, node: DevnetNode, key: PrivValidatorKey, signed: LastSignState | None = None
) -> tuple[SoloEngine, task.Clock, Path]:
    config = Config(home=tmp_path)
    config.override("consensus.timeout_commit", "100ms")
    path = config.priv_validator_state_path
    if signed is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(signed.to_json())
    clock = clock_at(node.genesis)
    engine = SoloEngine(node.context(clock, config=config, priv_validator=key))
    engine.switch_to_consensus(fired(node.handshake()), 0)
    return engine, clock, path


def test_every_precommit_is_recorded_in_priv_validator_state_first(tmp_path: Path) -> None:
    node, keys = solo_node(tmp_path, (7,))
    try:
        _engine, clock, path = _solo_with_state_file(tmp_path, node, keys[0])
        clock.pump([0.1] * 3)
        assert node.block_store.height == 3
        recorded = SignStateFile.load(path).state
        assert (recorded.height, recorded.round, recorded.step) == (3, 0, STEP_PRECOMMIT)
        seen = node.block_store.load_seen_commit(3)
        assert seen is not None and recorded.signature == seen.signatures[0].signature
        assert keys[0].pub_key.verify(recorded.sign_bytes, recorded.signature)
    finally:
        node.close()


def test_a_height_signed_before_a_crash_is_committed_in_the_next_round(tmp_path: Path) -> None:
    """The key precommitted height 1 round 0 but the block was never stored: round 1 gets a fresh vote,
    and the chain stays valid for blocksync (the commit's round is part of what validators sign)."""
    node, keys = solo_node(tmp_path, (7,))
    try:
        crashed = LastSignState(1, 0, STEP_PRECOMMIT, b"\x09" * 64, b"a vote for a lost block")
        _engine, clock, path = _solo_with_state_file(tmp_path, node, keys[0], crashed)
        clock.pump([0.1] * 4)
        assert node.block_store.height == 4
        block2 = node.block_store.load_block(2)
        assert block2 is not None and block2.last_commit is not None and block2.last_commit.round == 1
        assert SignStateFile.load(path).state.round == 0  # later heights start at round 0 again
        state = replay_with_blocksync_checks(node.block_store, node.genesis, tmp_path / "replay", 4)
        assert state.last_block_height == 3
    finally:
        node.close()


def test_a_key_that_signed_a_higher_height_refuses_to_produce(tmp_path: Path) -> None:
    """The home's blocks are older than its key's last signature (a restored backup): signing could
    contradict what the key already signed, so solo stops with the reason and stores nothing."""
    node, keys = solo_node(tmp_path, (7,))
    try:
        ahead = LastSignState(50, 0, STEP_PRECOMMIT, b"\x09" * 64, b"vote at 50")
        engine, clock, path = _solo_with_state_file(tmp_path, node, keys[0], ahead)
        clock.pump([0.1] * 3)
        assert node.block_store.height == 0
        error = engine.status()["error"]
        assert isinstance(error, str) and "height regression" in error and str(path) in error
        assert SignStateFile.load(path).state == ahead
    finally:
        node.close()


def test_malformed_priv_validator_state_is_refused_when_the_engine_is_built(tmp_path: Path) -> None:
    node, keys = solo_node(tmp_path, (7,))
    try:
        config = Config(home=tmp_path)
        config.priv_validator_state_path.parent.mkdir(parents=True, exist_ok=True)
        config.priv_validator_state_path.write_text("not json")
        ctx = node.context(clock_at(node.genesis), config=config, priv_validator=keys[0])
        with pytest.raises(EngineError, match="malformed last sign state"):
            SoloEngine(ctx)
    finally:
        node.close()
