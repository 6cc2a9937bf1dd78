"""`follow`: after the switch a node keeps ingesting the blocks a `solo` producer keeps committing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from blocksync_fixtures import Network, fired, run_until
from consensus_fixtures import DevnetNode, ProposingApp, clock_at, devnet

from cometsync.blocksync.handoff import DeferredHandoff
from cometsync.blocksync.phase import Phase
from cometsync.blocksync.reactor import BlocksyncReactor
from cometsync.consensus.engine import load_engine
from cometsync.consensus.follow import FollowEngine
from cometsync.consensus.solo import SoloEngine
from cometsync.crypto.keyfiles import PrivValidatorKey
from cometsync.node.handoff import connect_engine
from cometsync.state import State

HEAD_START = 6
FOLLOW_SECONDS = 20


def test_follower_tracks_a_producing_chain_after_the_switch(tmp_path: Path) -> None:
    genesis, keys = devnet("follow-test", (10,), extensions_from=3)
    clock = clock_at(genesis, after_seconds=3600)
    producer = DevnetNode(tmp_path / "producer", genesis, ProposingApp())
    follower = DevnetNode(tmp_path / "follower", genesis, ProposingApp())
    try:
        validator = PrivValidatorKey(keys[0])
        solo_ctx = producer.context(clock, priv_validator=validator)
        solo = load_engine("solo")(solo_ctx)
        assert isinstance(solo, SoloEngine)
        solo.start()
        producer_reactor: BlocksyncReactor[State] = BlocksyncReactor(
            fired(producer.handshake()),
            producer.block_store,
            producer.executor,
            solo,
            clock,
            local_address=validator.address,
        )
        producer_reactor.start()  # the only validator: hands off at once, solo starts producing
        assert producer_reactor.phase is Phase.SWITCHED
        clock.pump([1.0] * HEAD_START)
        assert producer.block_store.height == HEAD_START

        handoff: DeferredHandoff[State] = DeferredHandoff()
        follower_reactor: BlocksyncReactor[State] = BlocksyncReactor(
            fired(follower.handshake()), follower.block_store, follower.executor, handoff, clock
        )
        follow = load_engine("follow")(replace(follower.context(clock), blocksync=follower_reactor))
        assert isinstance(follow, FollowEngine)
        refusals: list[str] = []
        connect_engine(handoff, follow, lambda synced: None, refusals.append)
        follow.start()
        Network(clock).connect(producer_reactor, "producer", follower_reactor, "follower")
        follower_reactor.start()
        assert follow.last_state is None

        assert run_until(clock, lambda: follower_reactor.phase.handed_off, max_seconds=15)
        assert follower_reactor.phase is Phase.FOLLOWING and follower_reactor.pool.is_running
        assert refusals == []
        # Blocksync stopped on the peers' last status; the 1 s status polls close the rest of the gap.
        assert run_until(clock, lambda: follow.height >= producer.block_store.height - 2, max_seconds=5)
        lags = []
        for _ in range(FOLLOW_SECONDS):
            clock.pump([0.1] * 10)
            lags.append(producer.block_store.height - follow.height)
        assert max(lags) <= 2, lags
        assert producer.block_store.height >= HEAD_START + FOLLOW_SECONDS
        status = follow.status()
        assert status["engine"] == "follow" and status["following"] is True
        assert status["behind"] == follow.behind <= 2 and status["error"] is None

        # The follower applied the producer's very blocks (with their extended commits) and reached
        # the same app state.
        height = follow.height
        for h in range(1, height + 1):
            assert follower.block_store.load_block_meta(h) == producer.block_store.load_block_meta(h)
            ext = follower.block_store.load_extended_commit_bytes(h)
            assert ext == producer.block_store.load_extended_commit_bytes(h)
            assert (ext is not None) == (h >= 3)
        followed = follow.last_state
        assert followed is not None and followed.last_block_height == height
        assert producer.block_store.load_block(height + 1).header.app_hash == followed.app_hash  # type: ignore[union-attr]

        fired(follow.stop())  # type: ignore[arg-type]
        fired(solo.stop())  # type: ignore[arg-type]
        assert follower_reactor.phase is Phase.STOPPED and not follower_reactor.pool.is_running
        stopped_at = follow.height
        clock.pump([0.5] * 10)
        assert follow.height == stopped_at
    finally:
        producer.close()
        follower.close()
