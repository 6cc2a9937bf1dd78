"""When the pool lets the reactor switch to consensus: CometBFT's height rule and main's SyncTracker."""

from __future__ import annotations

from dataclasses import dataclass, field

from test_pool_harness import BLOCK_INTERVAL, FakePeer, SimBlock, SimCommit, SimNetwork, block_time
from twisted.internet import task

from cometsync.pool import BlockPool, PoolConfig, PoolError


def test_no_peers_is_never_caught_up() -> None:
    pool: BlockPool[SimBlock, SimCommit] = BlockPool(1, task.Clock())
    pool.start()
    assert not pool.is_caught_up()
    assert pool.is_caught_up().reason == "no peers"


def test_peers_at_height_zero_count_as_caught_up() -> None:
    pool: BlockPool[SimBlock, SimCommit] = BlockPool(1, task.Clock())
    pool.start()
    pool.set_peer_range("empty", 0, 0)
    assert pool.is_caught_up()


def test_caught_up_once_every_provable_block_is_applied() -> None:
    """Block 20 (the tip) has no commit yet, so applying 1..19 (pool height 20) is all blocksync can do."""
    net = SimNetwork([FakePeer("A", 1, 20)], 1)
    net.start()
    assert not net.pool.is_caught_up()
    assert net.run_until(lambda: net.pool.height == 19, max_seconds=30)
    assert not net.pool.is_caught_up(), "CometBFT's max - 1 rule would hand off two blocks short of the tip"
    assert net.run_until(lambda: net.pool.height == 20, max_seconds=30)
    assert net.pool.is_caught_up().reason == "height 20 reached max peer height 20"


def test_genesis_escape_when_no_block_ever_arrives() -> None:
    config = PoolConfig(peer_timeout=1000.0)
    net = SimNetwork([FakePeer("liar", 1, 1000, silent=True)], 1, config, verifier=None)
    net.start()
    net.step(3.0 + 29.9)
    assert not net.pool.is_caught_up()
    net.step(0.2)
    assert net.pool.is_caught_up().reason.startswith("no block since start")


def test_not_caught_up_while_blocks_arrive_faster_than_the_chain_made_them() -> None:
    """Syncing history from a peer claiming a far height: the tracker must not fire mid-sync."""
    net = SimNetwork([FakePeer("A", 1, 5000, service_time=0.02)], 1, clock_start=block_time(5000))
    net.start()
    for _ in range(200):
        net.step(0.1)
        assert not net.pool.is_caught_up()
    assert net.pool.height > 100


@dataclass
class InflatingTipPeer(FakePeer):
    """Claims a far height but can only serve blocks the chain has produced by now (clock time)."""

    clock: task.Clock = field(default_factory=task.Clock)

    def answer(self, height: int) -> SimBlock | None:
        if block_time(height) > self.clock.seconds():
            return None
        return super().answer(height)


def test_peer_inflating_its_height_at_the_tip_is_escaped() -> None:
    """Its first refusal caps its claim below the refused height, so the height rule holds at the tip."""
    net = SimNetwork([], 1, clock_start=block_time(10))
    peer = InflatingTipPeer("inflating", 1, 10_000, clock=net.clock)
    net.peers[peer.peer_id] = peer
    net.start()
    assert net.run_until(lambda: bool(net.pool.is_caught_up()), max_seconds=60)
    assert net.pool.max_peer_height < 10_000
    assert "reached max peer height" in net.pool.is_caught_up().reason
    chain_tip = int((net.clock.seconds() - block_time(0)) / BLOCK_INTERVAL)
    assert chain_tip - 3 <= net.pool.height <= chain_tip


def test_pop_without_a_block_is_a_contract_error() -> None:
    pool: BlockPool[SimBlock, SimCommit] = BlockPool(1, task.Clock())
    try:
        pool.pop_request(0.0)
    except PoolError as error:
        assert "height 1" in str(error)
    else:
        raise AssertionError("pop_request without a block must raise")
