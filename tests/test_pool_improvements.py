"""Where cometsync's pool deliberately differs from CometBFT v0.38.25 (docs/pool.md), shown on the Clock."""

from __future__ import annotations

from test_pool_cometbft import pop_one
from test_pool_harness import MALICIOUS_LIE, FakePeer, SimBlock, SimCommit, SimNetwork, block_time

from cometsync.pool import AddBlockOutcome, PeerBanned, PeerError, PoolConfig, SendRequest

MIB = 1024 * 1024
ONE_REQUEST_PER_PEER = PoolConfig(second_request_distance=0, max_pending_per_peer=1)


def test_byte_window_bounds_blocks_held_with_huge_blocks() -> None:
    config = PoolConfig(window_bytes=256 * MIB)
    peers = [FakePeer(f"p{i}", 1, 2000, block_size=40 * MIB) for i in range(10)]
    net = SimNetwork(peers, 1, config, verifier=pop_one, verify_interval=1.0)
    net.start()
    most_requesters = 0
    for _ in range(600):
        net.step(0.1)
        status = net.pool.status()
        most_requesters = max(most_requesters, status.num_requesters)
        assert status.bytes_held <= config.window_bytes
    assert net.pool.height > 40
    assert net.max_bytes_held <= config.window_bytes
    assert most_requesters <= config.window_bytes // (40 * MIB)  # CometBFT: 10 peers x 20 = 200 (8 GB)


def test_block_bigger_than_the_window_still_progresses() -> None:
    config = PoolConfig(window_bytes=10 * MIB)
    net = SimNetwork([FakePeer("a", 1, 100, block_size=30 * MIB)], 1, config)
    net.start()
    assert net.run_until(lambda: net.pool.height >= 20, max_seconds=30)
    assert net.pool.status().num_requesters <= 2


def test_small_blocks_do_not_get_honest_peers_dropped() -> None:
    """#5135: tiny blocks keep honest peers under 128 KiB/s; they deliver blocks, so they stay."""
    peers = [FakePeer(f"p{i}", 1, 20_000, block_size=200, service_time=0.04 + 0.01 * i) for i in range(4)]
    net = SimNetwork(peers, 1, PoolConfig())
    net.start()
    net.run_until(lambda: False, step=0.05, max_seconds=120)
    assert net.errors == []
    assert net.pool.height > 1000
    assert all(p.byte_rate < PoolConfig().min_recv_rate for p in net.pool.status().peers)


def test_peer_whose_blocks_take_far_longer_is_dropped() -> None:
    peers = [FakePeer(f"fast{i}", 1, 20_000, block_size=1000) for i in range(3)]
    peers.append(FakePeer("slow", 1, 20_000, block_size=1000, service_time=4.0))
    net = SimNetwork(peers, 1)
    net.start()
    assert net.run_until(lambda: bool(net.errors), step=0.05, max_seconds=120)
    assert [e.peer_id for e in net.errors] == ["slow"]
    assert "answers in" in net.errors[0].reason


def test_no_block_response_releases_the_slot_and_is_never_re_asked() -> None:
    """CometBFT re-asks a refusing peer in a loop and never frees its slot; here a refusal is final."""
    picky = FakePeer("picky", 1, 200, missing=frozenset(range(10, 21)), answers_status=False)
    honest = FakePeer("honest", 1, 200)
    net = SimNetwork([picky, honest], 1, PoolConfig(max_refusals=100))
    net.start()
    assert net.run_until(lambda: net.pool.height == 199, max_seconds=60)
    assert net.errors == [] and net.bans == []
    status = net.pool.status()
    assert sum(p.num_pending for p in status.peers) == status.num_in_flight
    refused = [r.height for r in net.requests if r.peer_id == "picky" and r.height in picky.missing]
    assert refused and len(refused) == len(set(refused))


def test_late_duplicate_from_the_second_peer_is_tolerated() -> None:
    fast = FakePeer("fast", 1, 100, service_time=0.01)
    slow = FakePeer("slow", 1, 100, service_time=0.5)
    net = SimNetwork([fast, slow], 1)
    net.start()
    assert net.run_until(lambda: net.pool.height > 5, max_seconds=10)
    assert net.pool.has_pending_request_from("slow")
    assert net.run_until(lambda: AddBlockOutcome.LATE in net.outcomes, max_seconds=30)
    assert net.errors == []


def test_late_answer_after_the_retry_timer_is_accepted() -> None:
    config = PoolConfig(peer_timeout=120.0, retry_seconds=30.0)
    peers = [FakePeer(name, 1, 10, silent=True) for name in ("A", "B", "C", "D")]
    net = SimNetwork(peers, 1, config, verifier=None)
    net.start()
    net.step(3.0)
    first_asked = {r.peer_id for r in net.requests if r.height == 1}
    net.step(30.0)
    later_asked = {r.peer_id for r in net.requests if r.height == 1} - first_asked
    assert later_asked
    late = sorted(first_asked)[0]
    assert net.pool.has_pending_request_from(late)
    assert net.pool.add_block(late, SimBlock(1, block_time(1)), None, 100) is AddBlockOutcome.ACCEPTED
    assert not [a for a in net.pool.drain_actions() if isinstance(a, PeerError)]


def test_blocks_after_stop_are_dropped_quietly() -> None:
    net = SimNetwork([FakePeer("A", 1, 10, silent=True)], 1, verifier=None)
    net.start()
    net.step(3.0)
    net.pool.stop()
    outcome = net.pool.add_block("A", SimBlock(1, block_time(1)), SimCommit(1), 100)
    assert outcome is AddBlockOutcome.IGNORED_STOPPED
    net.pool.tick()
    assert net.pool.drain_actions() == []
    assert net.pool.next_deadline() is None


def test_unexpected_block_above_the_pool_height_disconnects() -> None:
    net = SimNetwork([FakePeer("A", 1, 10, silent=True)], 1, verifier=None)
    net.start()
    net.step(3.0)
    assert net.pool.add_block("A", SimBlock(500, block_time(500)), None, 100) is AddBlockOutcome.REJECTED
    assert net.pool.add_block("A", SimBlock(2, block_time(2)), SimCommit(3), 100) is AddBlockOutcome.REJECTED
    assert [type(a) for a in net.pool.drain_actions()] == [PeerError, PeerError]


def deliver_first_two(net: SimNetwork) -> dict[int, str]:
    """Answer heights 1 and 2 from the peers asked first; returns height -> sender."""
    senders: dict[int, str] = {}
    for request in net.requests:
        if request.height in (1, 2) and request.height not in senders:
            block = SimBlock(request.height, block_time(request.height))
            assert net.pool.add_block(request.peer_id, block, None, 100) is AddBlockOutcome.ACCEPTED
            senders[request.height] = request.peer_id
    return senders


def test_attributed_failure_punishes_only_the_guilty_sender() -> None:
    peers = [FakePeer(name, 1, 10, silent=True) for name in ("A", "B", "C", "D")]
    net = SimNetwork(peers, 1, ONE_REQUEST_PER_PEER, verifier=None, disconnect_on_error=False)
    net.start()
    net.step(3.0)
    senders = deliver_first_two(net)
    assert senders[1] != senders[2]
    assert net.pool.punish_block_senders([2], "bad commit in block 2") == [senders[2]]
    first, second, _ = net.pool.peek_two_blocks()
    assert first is not None and second is None
    assert net.pool.is_peer_banned(senders[2]) and not net.pool.is_peer_banned(senders[1])


def test_unattributed_failure_punishes_both_senders_like_cometbft() -> None:
    peers = [FakePeer(name, 1, 10, silent=True) for name in ("A", "B", "C", "D")]
    net = SimNetwork(peers, 1, ONE_REQUEST_PER_PEER, verifier=None, disconnect_on_error=False)
    net.start()
    net.step(3.0)
    senders = deliver_first_two(net)
    net.pump()
    punished = net.pool.punish_block_senders([1, 2], "first/second failed verification")
    assert punished == [senders[1], senders[2]]
    net.pump()
    assert {b.peer_id for b in net.bans} == set(punished)
    assert all(b.disconnect for b in net.bans)
    assert net.errors == []  # the ban itself says "disconnect"; no second action to correlate
    assert net.pool.peek_two_blocks() == (None, None, None)
    # The others' one slot each holds a later height; the first slot to free goes to height 1.
    other = next(r for r in reversed(net.requests) if r.peer_id not in punished)
    net.requests.clear()
    block = SimBlock(other.height, block_time(other.height))
    assert net.pool.add_block(other.peer_id, block, SimCommit(other.height), 100) is AddBlockOutcome.ACCEPTED
    net.pump()
    assert [(r.peer_id, r.height) for r in net.requests][:1] == [(other.peer_id, 1)]
    assert not {r.peer_id for r in net.requests} & set(punished)


def test_disconnect_keeps_blocks_the_peer_already_delivered() -> None:
    peers = [FakePeer(name, 1, 10, silent=True) for name in ("A", "B")]
    net = SimNetwork(peers, 1, PoolConfig(second_request_distance=0), verifier=None)
    net.start()
    net.step(3.0)
    senders = deliver_first_two(net)
    net.pool.remove_peer(senders[1])
    first, _, _ = net.pool.peek_two_blocks()
    assert first == SimBlock(1, block_time(1))


def test_requests_start_after_peer_conn_wait_and_respect_the_per_peer_cap() -> None:
    net = SimNetwork([FakePeer("A", 1, 1000, silent=True)], 1, verifier=None)
    net.start()
    net.step(2.9)
    assert net.requests == []
    net.step(0.1)
    assert [r.height for r in net.requests] == [1, 2]  # size unknown yet: only what progress needs
    net.pool.add_block("A", SimBlock(1, block_time(1)), None, 1000)
    net.pump()
    status = net.pool.status()
    assert status.num_awaiting_block == 20 and status.peers[0].num_pending == 20
    assert status.num_requesters == 21  # the held block does not take an awaited height's place


def test_held_blocks_do_not_starve_requests_but_max_requesters_bounds_them() -> None:
    """CometBFT caps all requesters (held or awaited) at peers x 20, so 20 blocks waiting for the loop stop
    every request; here only awaited heights count against that cap, and `max_requesters` bounds the rest."""
    net = SimNetwork([FakePeer("A", 1, 1000, silent=True)], 1, PoolConfig(max_requesters=50), verifier=None)
    net.start()
    net.step(3.0)
    delivered: set[int] = set()
    for _ in range(10):
        for height in sorted({r.height for r in net.requests} - delivered):
            net.pool.add_block("A", SimBlock(height, block_time(height)), None, 1000)
            delivered.add(height)
        net.pump()
    status = net.pool.status()
    assert status.num_requesters == 50 and status.peers[0].num_pending <= 20
    assert status.num_requesters - status.num_awaiting_block >= 30  # held blocks beyond CometBFT's cap


def test_awaited_heights_stay_exactly_the_requesters_without_a_block() -> None:
    """The pool keeps the block-less requesters apart so a request pass does not walk all 600; whatever
    peers do (lie, refuse, fall silent, send fakes that get them banned), that set must stay exact."""
    peers = [
        FakePeer("honest", 1, 400, service_time=0.02),
        FakePeer("slow", 1, 400, service_time=0.3),
        FakePeer("refuser", 1, 400, missing=frozenset(range(30, 60))),
        FakePeer("liar", 1, 400 + MALICIOUS_LIE, malicious=True),
        FakePeer("silent", 1, 400, silent=True),
    ]
    net = SimNetwork(peers, 1, PoolConfig(peer_timeout=2.0, max_requesters=80), verify_interval=0.2)
    net.start()
    for _ in range(3000):
        net.step(0.01)
        requesters = net.pool._requesters  # private on purpose: the invariant is internal
        awaited = {height for height, requester in requesters.items() if requester.block is None}
        assert set(net.pool._awaited) == awaited
        assert net.pool.status().num_awaiting_block == len(awaited)
    assert net.pool.height > 100 and net.bans


def test_second_request_only_near_the_tip() -> None:
    peers = [FakePeer(name, 1, 1000, silent=True) for name in ("A", "B", "C", "D", "E", "F")]
    net = SimNetwork(peers, 1, verifier=None)
    net.start()
    net.step(3.0)
    net.pool.add_block(net.requests[0].peer_id, SimBlock(1, block_time(1)), None, 1000)
    net.pump()
    per_height: dict[int, int] = {}
    for request in net.requests:
        per_height[request.height] = per_height.get(request.height, 0) + 1
    assert all(per_height[h] == 2 for h in range(2, 50))
    assert all(count == 1 for h, count in per_height.items() if h >= 51)


def test_peers_are_sorted_by_measured_block_rate() -> None:
    peers = [FakePeer("slowish", 1, 5000, service_time=0.2), FakePeer("quick", 1, 5000, service_time=0.01)]
    net = SimNetwork(peers, 1)
    net.start()
    net.run_until(lambda: False, step=0.05, max_seconds=20)
    assert net.pool.status().peers[0].peer_id == "quick"


def test_next_deadline_points_at_the_earliest_timer() -> None:
    net = SimNetwork([FakePeer("A", 1, 10, silent=True)], 1, verifier=None)
    start = net.clock.seconds()
    assert net.pool.next_deadline() is None
    net.start()
    assert net.pool.next_deadline() == start + 1.0  # first rate check, before peer_conn_wait ends
    net.step(3.0)
    assert SendRequest("A", 1) in net.requests
    deadline = net.pool.next_deadline()
    assert deadline is not None and deadline <= start + 3.0 + 15.0


def test_ban_expires_after_sixty_seconds() -> None:
    net = SimNetwork([FakePeer("A", 1, 10)], 1, verifier=None)
    net.start()
    net.pool.set_peer_range("A", 1, 5)
    assert net.pool.drain_actions() == [
        PeerBanned("A", "lowered its range from [1, 10] to [1, 5]", net.clock.seconds() + 60, disconnect=True)
    ]
    net.pool.set_peer_range("A", 1, 10)
    assert net.pool.max_peer_height == 0
    net.step(60.0)
    net.pool.set_peer_range("A", 1, 10)
    assert net.pool.max_peer_height == 10


def test_big_blocks_stretch_the_peer_timeout() -> None:
    """tendermint#2456: 10 MiB every 30 s is 350 KB/s, a live peer; 15 s flat would drop it."""
    quick = FakePeer("quick", 1, 5000, block_size=10 * MIB)
    steady = FakePeer("steady", 1, 5000, block_size=10 * MIB, service_time=30.0)
    net = SimNetwork([quick, steady], 1)
    net.start()
    net.run_until(lambda: False, step=0.5, max_seconds=120)
    assert net.errors == []
    assert len(steady.served) >= 3


def test_requesters_above_every_remaining_claim_are_pruned() -> None:
    liar = FakePeer("liar", 1, 1000, silent=True)
    net = SimNetwork([FakePeer("honest", 1, 30), liar], 1, verifier=None)
    net.start()
    net.run_until(lambda: net.pool.status().num_requesters == 40, max_seconds=10)
    liar.height = 5
    net.introduce(liar)
    assert net.pool.is_peer_banned("liar")
    assert net.pool.height + net.pool.status().num_requesters - 1 <= 30
