"""CometBFT's blocksync/pool_test.go scenarios (v0.38.25 and main), deterministic on a twisted Clock."""

from __future__ import annotations

import random

from test_pool_harness import (
    MALICIOUS_LIE,
    FakePeer,
    SimBlock,
    SimCommit,
    SimNetwork,
    block_time,
    make_peers,
    pop_verified,
)
from twisted.internet import task

from cometsync.clock import Periodic
from cometsync.pool import AddBlockOutcome, BlockPool, PeerError, PoolConfig

MAX_INT64 = 2**63 - 1
TEST_PEER_TIMEOUT = PoolConfig(peer_timeout=2.0)  # pool_test.go sets peerTimeout = 2 s


def test_basic_requests_are_answered_and_popped_up_to_300() -> None:
    net = SimNetwork(make_peers(random.Random(42), 10, 42, 1000), 42, TEST_PEER_TIMEOUT)
    net.start()
    assert net.run_until(lambda: any(r.height == 300 for r in net.requests), max_seconds=120)
    assert net.errors == []
    assert net.pool.height > 42


def test_timeout_every_silent_peer_gets_an_error() -> None:
    peers = make_peers(random.Random(7), 10, 42, 1000)
    for peer in peers:
        peer.base, peer.silent = 42, True
    net = SimNetwork(peers, 42, TEST_PEER_TIMEOUT)
    net.start()
    assert net.run_until(lambda: len({e.peer_id for e in net.errors}) == len(peers), max_seconds=30)
    assert all("did not send us any block" in e.reason for e in net.errors)


def test_remove_peer_recomputes_max_peer_height() -> None:
    pool: BlockPool[SimBlock, SimCommit] = BlockPool(1, task.Clock())
    for i in range(1, 11):
        pool.set_peer_range(str(i), 0, i)
    assert pool.max_peer_height == 10
    pool.remove_peer("Superman")
    pool.remove_peer("10")
    assert pool.max_peer_height == 9
    for i in range(1, 11):
        pool.remove_peer(str(i))
    assert pool.max_peer_height == 0


def grow_chain_every_second(net: SimNetwork) -> Periodic:
    """Every peer gains a block per second and reports it (the Go test's ticker goroutine)."""

    def grow() -> None:
        for peer in net.peers.values():
            peer.height += 1
            if peer.connected:
                net.introduce(peer)

    return net.every(1.0, grow)


def pop_one(net: SimNetwork) -> None:
    """The Go test's verifier: at most one block per tick; a fake second block bans its sender."""
    first, second, _ = net.pool.peek_two_blocks()
    if first is None or second is None:
        return
    if not second.genuine:
        assert net.pool.punish_block_senders([second.height], "second block is fake")
    else:
        net.pool.pop_request(first.time)


def run_until_caught_up_after_ban(net: SimNetwork, max_seconds: float) -> None:
    """Check every 0.2 s: never caught up before "bad" was banned once; caught up in time."""
    banned_once = False
    for _ in range(int(max_seconds / 0.2)):
        for _ in range(4):
            net.step(0.05)
        banned_once = banned_once or net.pool.is_peer_banned("bad")
        caught_up = net.pool.is_caught_up()
        if caught_up and banned_once:
            return
        assert not caught_up, f"caught up without banning the liar: {caught_up.reason}"
    raise AssertionError("pool did not catch up in time")


def test_malicious_node_is_banned_and_pool_catches_up() -> None:
    initial = 7
    peers = [
        FakePeer("good", 1, initial),
        FakePeer("bad", 1, initial + MALICIOUS_LIE, malicious=True),
        FakePeer("good1", 1, initial),
    ]
    # Header times all equal (the Go test's zero Time): the SyncTracker has no production interval and
    # stays on its 30 s floor, so only the ban can end the sync here.
    net = SimNetwork(peers, 1, TEST_PEER_TIMEOUT, verifier=pop_one, verify_interval=0.5)
    net.start()
    loop = grow_chain_every_second(net)
    run_until_caught_up_after_ban(net, max_seconds=300)
    loop.stop()
    assert any(ban.peer_id == "bad" for ban in net.bans)
    assert [e for e in net.errors if e.peer_id != "bad"] == []


def test_malicious_node_max_int64_then_lower_height_is_banned() -> None:
    initial = 7
    peers = [
        FakePeer("good", 1, initial),
        FakePeer("bad", 1, MAX_INT64, malicious=True),
        FakePeer("good1", 1, initial),
    ]
    net = SimNetwork(peers, 1, TEST_PEER_TIMEOUT, verifier=pop_one, verify_interval=0.5)
    net.start()
    assert net.pool.max_peer_height == MAX_INT64
    peers[1].height = initial
    net.introduce(peers[1])  # GHSA-22qq: lowering the height must not leave max at MaxInt64
    assert net.pool.is_peer_banned("bad")
    assert net.pool.max_peer_height == initial
    loop = grow_chain_every_second(net)
    run_until_caught_up_after_ban(net, max_seconds=300)
    loop.stop()
    assert [e for e in net.errors if e.peer_id != "bad"] == []


def test_bans_peer_with_base_greater_than_height() -> None:
    pool: BlockPool[SimBlock, SimCommit] = BlockPool(1, task.Clock())
    pool.set_peer_range("bad", 500, 100)
    assert pool.is_peer_banned("bad")
    assert pool.max_peer_height == 0


def test_max_peer_height_refreshes_on_pop_request() -> None:
    peers = [FakePeer("A", 1, 20), FakePeer("B", 15, 100)]

    def pop_below_15(net: SimNetwork) -> None:
        while net.pool.height < 15:
            first, second, _ = net.pool.peek_two_blocks()
            if first is None or second is None:
                return
            net.pool.pop_request(first.time)

    net = SimNetwork(peers, 10, verifier=pop_below_15)
    net.start()
    assert net.pool.max_peer_height == 20, "B is pruned beyond the pool height and must not count yet"
    assert net.run_until(lambda: net.pool.height == 15)
    assert net.pool.max_peer_height == 100


def test_has_pending_request_from_primary_and_secondary_not_strangers() -> None:
    peers = [FakePeer("primary", 1, 10, silent=True), FakePeer("secondary", 1, 10, silent=True)]
    net = SimNetwork(peers, 1, verifier=None)
    pool = net.pool
    assert not pool.has_pending_request_from("primary")
    net.start()
    net.step(3.0)
    assert {r.peer_id for r in net.requests if r.height == 1} == {"primary", "secondary"}
    assert pool.has_pending_request_from("primary")
    assert pool.has_pending_request_from("secondary")
    assert not pool.has_pending_request_from("stranger")
    for height in range(1, 11):
        assert pool.add_block("primary", SimBlock(height, block_time(height)), None, 100) in (
            AddBlockOutcome.ACCEPTED,
            AddBlockOutcome.DUPLICATE,
        )
    while pool.height < 10:
        first, _, _ = pool.peek_two_blocks()
        assert first is not None
        pool.pop_request(first.time)
    pool.stop()
    assert not pool.has_pending_request_from("primary")
    assert not pool.has_pending_request_from("secondary")


def test_redo_from_both_peers_keeps_both_events() -> None:
    """main's RedoPreservesBothPeers/RedoNeverDropsEvent: every redo frees its peer; none is lost."""
    peers = [FakePeer(name, 1, 10, silent=True) for name in ("peerA", "peerB", "peerC", "peerD")]
    net = SimNetwork(peers, 1, verifier=None)
    net.start()
    net.step(3.0)
    first, second = sorted(r.peer_id for r in net.requests if r.height == 1)
    pending_before = {p.peer_id: p.num_pending for p in net.pool.status().peers}
    net.requests.clear()
    net.pool.redo_request_from(1, first)
    net.pool.redo_request_from(1, first)
    net.pool.redo_request_from(1, second)
    net.pump()
    re_asked = {r.peer_id for r in net.requests if r.height == 1}
    assert len(re_asked) == 2 and not re_asked & {first, second}
    pending_after = {p.peer_id: p.num_pending for p in net.pool.status().peers}
    assert pending_after[first] == pending_before[first] - 1
    assert pending_after[second] == pending_before[second] - 1


def test_add_block_from_unasked_peer_is_rejected_without_blocking() -> None:
    """main's TestAddBlockDoesNotDeadlockOnSendError: the error is a queued action, the pool stays usable."""
    net = SimNetwork([FakePeer("A", 1, 10, silent=True)], 1, verifier=None)
    net.start()
    net.step(3.0)
    outcome = net.pool.add_block("B", SimBlock(1, block_time(1)), SimCommit(1), 123)
    assert outcome is AddBlockOutcome.REJECTED
    assert net.pool.drain_actions() == [PeerError("B", "sent block 1 we requested from ['A']")]
    assert net.pool.height == 1


def test_two_malicious_peers_staggered_cannot_keep_us_syncing() -> None:
    honest = 50
    good = [FakePeer("good1", 1, honest), FakePeer("good2", 1, honest)]
    bad = [FakePeer("bad1", 1, MAX_INT64, silent=True), FakePeer("bad2", 1, MAX_INT64, silent=True)]
    config = PoolConfig(peer_timeout=2.0, no_block_timeout=1.0)
    net = SimNetwork(good, 1, config, verifier=pop_verified, clock_start=block_time(honest) + 5)
    net.peers.update({peer.peer_id: peer for peer in bad})
    net.start()
    reconnecting = [bad[0]]

    def reconnect() -> None:
        if net.clock.seconds() >= start + 3.5 and bad[1] not in reconnecting:
            reconnecting.append(bad[1])
        for peer in reconnecting:
            peer.connected = True
            net.introduce(peer)

    start = net.clock.seconds()
    loop = net.every(0.1, reconnect)
    # Block `honest` needs `honest + 1`'s commit, which does not exist yet: blocks 1..49 get popped.
    assert net.run_until(lambda: net.pool.height == honest, max_seconds=120)
    synced_at = net.clock.seconds()
    assert net.pool.max_peer_height == MAX_INT64
    assert net.run_until(lambda: bool(net.pool.is_caught_up()), max_seconds=10)
    loop.stop()
    assert net.clock.seconds() - synced_at < 10
    assert "no verified block" in net.pool.is_caught_up().reason
    assert all(r.peer_id.startswith("bad") for r in net.requests if r.height > honest)


def test_lowering_the_base_is_banned_and_its_requests_are_redone() -> None:
    """GHSA-22qq covers base as well as height; the banned peer's outstanding heights go elsewhere."""
    peers = [FakePeer("shifty", 5, 100, silent=True), FakePeer("other", 1, 100, silent=True)]
    net = SimNetwork(peers, 5, verifier=None, disconnect_on_error=False)
    net.start()
    net.step(3.0)
    assert net.pool.has_pending_request_from("shifty")
    net.requests.clear()
    net.pool.set_peer_range("shifty", 4, 100)
    net.pump()
    assert net.pool.is_peer_banned("shifty")
    assert not net.pool.has_pending_request_from("shifty")
    assert [b.peer_id for b in net.bans] == ["shifty"]
    assert net.errors == []  # a ban is not a disconnect (CometBFT leaves that to the switch)
