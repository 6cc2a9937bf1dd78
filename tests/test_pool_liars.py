"""Peers that claim heights they will not serve (issue 13): refusals and timeouts are the unforgeable
evidence; a refusal caps the claim at once, `max_refusals` of them ban and disconnect, lowering a claim
bans and disconnects. All on `task.Clock` through the fake network of test_pool_harness."""

from __future__ import annotations

from test_pool_harness import FakePeer, SimNetwork, block_time

from cometsync.pool import PeerBanned, PoolConfig

TIP = 60
LIE = 1_000_000


def liar_above(tip: int, name: str = "liar") -> FakePeer:
    """Serves the real chain up to `tip` and answers NoBlockResponse above it, while claiming LIE."""
    return FakePeer(name, 1, LIE, missing=frozenset(range(tip + 1, tip + 1_000)))


def started(peers: list[FakePeer], config: PoolConfig | None = None) -> SimNetwork:
    net = SimNetwork(peers, 1, config, clock_start=block_time(TIP) + 5)
    net.start()
    return net


def test_liar_above_the_tip_is_banned_and_disconnected_and_the_pool_is_caught_up_at_the_tip() -> None:
    liar = liar_above(TIP)
    net = started([FakePeer("honest", 1, TIP), liar])
    assert net.run_until(lambda: bool(net.pool.is_caught_up() and net.bans), max_seconds=30)
    assert net.pool.height == TIP
    assert net.pool.is_caught_up().reason == f"height {TIP} reached max peer height {TIP}"
    [ban] = net.bans
    assert (ban.peer_id, ban.disconnect) == ("liar", True)
    assert ban.reason == f"still claims [1, {LIE}] after refusing block {TIP + 1}"
    assert not liar.connected and net.pool.is_peer_banned("liar")
    net.introduce(liar)  # it redials and claims again: ignored while banned
    assert net.pool.max_peer_height == TIP


def test_peer_refusing_everything_is_asked_once_then_banned_by_its_own_status() -> None:
    config = PoolConfig()
    refuses_all = FakePeer("liar", 1, LIE, missing=frozenset(range(1, 1_000)))
    net = started([FakePeer("honest", 1, TIP), refuses_all], config)
    assert net.run_until(lambda: bool(net.bans), max_seconds=10)
    assert net.bans[0].reason.startswith(f"still claims [1, {LIE}] after refusing block ")
    asked = [r for r in net.requests if r.peer_id == "liar"]
    assert len(asked) <= config.max_pending_per_peer  # everything it got was sent before its first refusal
    assert net.run_until(lambda: bool(net.pool.is_caught_up()), max_seconds=30)
    assert net.pool.height == TIP


def test_first_refusal_caps_the_claim_before_any_ban() -> None:
    """ "Every other peer exhausted at our height": the liar's refusal above the tip is enough to switch."""
    liar = liar_above(TIP)
    liar.answers_status = False  # so its lie is never confirmed
    net = started([FakePeer("honest", 1, TIP), liar], PoolConfig(max_refusals=1_000))
    assert net.run_until(lambda: bool(net.pool.is_caught_up()), max_seconds=30)
    assert net.bans == [] and net.errors == []
    assert net.pool.max_peer_height == TIP
    assert {p.peer_id for p in net.pool.status().peers} == {"honest", "liar"}


def test_silent_liar_is_banned_after_timeouts_even_across_reconnects() -> None:
    config = PoolConfig(peer_timeout=2.0, max_refusals=3)
    silent = FakePeer("silent", 1, LIE, silent=True)
    net = started([FakePeer("honest", 1, TIP), silent], config)

    def redial() -> None:
        if not silent.connected:
            silent.connected = True
            net.introduce(silent)

    loop = net.every(0.5, redial)
    assert net.run_until(lambda: bool(net.bans), max_seconds=30)
    loop.stop()
    assert [e.peer_id for e in net.errors] == ["silent", "silent"]  # dropped twice, then banned
    assert net.bans[0].disconnect and net.bans[0].reason.endswith("(3 refusals)")
    assert net.run_until(lambda: bool(net.pool.is_caught_up()), max_seconds=30)
    assert net.pool.height == TIP


def test_in_flight_refusals_count_as_strikes_without_a_status() -> None:
    """A liar that never answers StatusRequest is still banned once `max_refusals` refusals arrive."""
    config = PoolConfig(max_refusals=3, max_pending_per_peer=5)
    liar = FakePeer("liar", 1, LIE, missing=frozenset(range(TIP + 1, TIP + 100)), answers_status=False)
    net = started([FakePeer("honest", 1, TIP)], config)
    assert net.run_until(lambda: net.pool.height == TIP, max_seconds=30)
    net.pool.set_peer_range("liar", 1, LIE)  # arrives at the tip: every request it gets is above it
    net.peers["liar"] = liar
    net.pump()
    assert net.run_until(lambda: bool(net.bans), max_seconds=10)
    assert net.bans[0].reason == f"refused block {TIP + 3} while claiming [1, {LIE}] (3 refusals)"


def test_lowering_the_height_bans_and_disconnects() -> None:
    peer = FakePeer("A", 1, 10)
    net = SimNetwork([peer], 1, verifier=None)
    net.start()
    net.pool.set_peer_range("A", 1, 5)
    net.pump()
    assert net.bans == [
        PeerBanned("A", "lowered its range from [1, 10] to [1, 5]", net.clock.seconds() + 60, disconnect=True)
    ]
    assert not peer.connected


def test_refusal_below_a_raised_base_is_pruning_not_a_lie() -> None:
    """An honest peer that pruned (raised its base) refuses what it no longer has: no strike, no cap."""
    pruning = FakePeer("pruning", 1, TIP, silent=True)
    net = SimNetwork([pruning], 1, PoolConfig(max_refusals=1), verifier=None)
    net.start()
    net.step(3.0)
    assert net.pool.has_pending_request_from("pruning")
    net.pool.set_peer_range("pruning", 30, TIP)
    net.pool.redo_request_from(1, "pruning")
    net.pump()
    assert net.bans == [] and net.errors == []
    assert [p.peer_id for p in net.pool.status().peers] == ["pruning"]
