"""Floods and duplicates against the reactor on `task.Clock` (in-process links, real stores and executor):
unasked BlockResponses are dropped before decoding, counted, and cost the sender a ban past the budget."""

from __future__ import annotations

from pathlib import Path

from blocksync_fixtures import LOCALNET_CHAIN, LinkedPeer, Network, Node, make_reactor, run_until, start_clock

from cometsync.blocksync.codec import (
    BLOCKSYNC_CHANNEL,
    BlockRequest,
    BlockResponse,
    decode,
    encode,
    encode_block_response,
)
from cometsync.blocksync.msg_filter import UNSOLICITED_BUDGET
from cometsync.blocksync.reactor import REQUEST_BACKLOG_BUDGET, BlocksyncReactor
from cometsync.state import State

HEIGHT = 60


class FloodingReactor(BlocksyncReactor[State]):
    """Serves nothing it is asked; answers every request with three blocks nobody asked for."""

    def receive(self, channel_id: int, peer: LinkedPeer, msg_bytes: bytes) -> None:  # type: ignore[override]
        message = decode(msg_bytes)
        if not isinstance(message, BlockRequest):
            super().receive(channel_id, peer, msg_bytes)
            return
        for height in (1, HEIGHT, message.height + 1):
            block_bytes = self.store.load_block_bytes(height)
            assert block_bytes is not None
            peer.send(BLOCKSYNC_CHANNEL, encode_block_response(block_bytes))


class QuietPeer:
    """A peer end that accepts whatever we send it and records closes."""

    def __init__(self, peer_id: str) -> None:
        self.id = peer_id
        self.closed: list[str] = []

    def send(self, channel_id: int, msg_bytes: bytes) -> bool:
        return True

    try_send = send

    def can_send(self, channel_id: int) -> bool:
        return True

    def close(self, reason: str) -> None:
        self.closed.append(reason)


def test_flooding_peer_is_banned_after_its_budget_and_the_sync_completes(tmp_path: Path) -> None:
    clock = start_clock(LOCALNET_CHAIN)
    network = Network(clock)
    honest, flooder = Node(tmp_path / "honest", LOCALNET_CHAIN), Node(tmp_path / "flood", LOCALNET_CHAIN)
    honest.apply_chain(HEIGHT)
    flooder.apply_chain(HEIGHT)
    syncer = Node(tmp_path / "syncer", LOCALNET_CHAIN)
    syncer_reactor, handoff = make_reactor(syncer, clock)
    flood_reactor = FloodingReactor(flooder.state, flooder.block_store, flooder.executor, handoff, clock)
    honest_reactor, _ = make_reactor(honest, clock)
    network.connect(flood_reactor, "flood", syncer_reactor, "syncer")
    network.connect(honest_reactor, "honest", syncer_reactor, "syncer")
    flood_reactor.start(blocksync=False)
    honest_reactor.start(blocksync=False)
    syncer_reactor.start()

    assert run_until(clock, lambda: handoff.switched.called, max_seconds=60)
    assert syncer_reactor.state.last_block_height >= HEIGHT - 1
    rejections = syncer_reactor.rejections
    assert rejections.drops["unsolicited"] == UNSOLICITED_BUDGET
    assert rejections.bans["unsolicited"] == 1
    flood_disconnects = [d for d in network.disconnects if d[1] == "flood"]
    assert len(flood_disconnects) == 1 and "unsolicited" in flood_disconnects[0][2]
    assert not [d for d in network.disconnects if d[1] == "honest"]


def test_duplicate_copies_of_an_asked_height_are_strikes_not_decodes(tmp_path: Path) -> None:
    clock = start_clock(LOCALNET_CHAIN)
    syncer = Node(tmp_path / "syncer", LOCALNET_CHAIN)
    reactor, _ = make_reactor(syncer, clock)
    reactor.start()
    reactor.pool.set_peer_range("p", 1, HEIGHT)
    clock.advance(reactor.config.pool.peer_conn_wait + 0.1)
    reactor.pool.tick()
    assert reactor.pool.expects_block("p", 1)
    peer = QuietPeer("p")
    reactor.add_peer(peer)
    message = encode_block_response(LOCALNET_CHAIN.block_bytes(1))
    assert reactor.filter_msg_bytes(BLOCKSYNC_CHANNEL, peer, message)
    assert not reactor.filter_msg_bytes(BLOCKSYNC_CHANNEL, peer, message)  # a second copy in flight
    reactor.receive(BLOCKSYNC_CHANNEL, peer, message)
    assert not reactor.pool.expects_block("p", 1)
    assert not reactor.filter_msg_bytes(BLOCKSYNC_CHANNEL, peer, message)  # answered already
    assert reactor.filter.strikes == {"p": 2}
    assert peer.closed == []


class BackloggedPeer(QuietPeer):
    """A peer that asks and never reads while `reading` is False: its send queue stays full."""

    def __init__(self, peer_id: str) -> None:
        super().__init__(peer_id)
        self.sent: list[bytes] = []
        self.reading = False

    def send(self, channel_id: int, msg_bytes: bytes) -> bool:
        self.sent.append(msg_bytes)
        return True

    try_send = send

    def can_send(self, channel_id: int) -> bool:
        return self.reading


def _serving_backlogged_peer(tmp_path: Path, peer_id: str) -> tuple[BlocksyncReactor[State], BackloggedPeer]:
    """A node serving blocks 1-5 (blocksync off) with one BackloggedPeer connected."""
    server = Node(tmp_path / "server", LOCALNET_CHAIN)
    server.apply_chain(5)
    reactor, _ = make_reactor(server, start_clock(LOCALNET_CHAIN))
    reactor.start(blocksync=False)
    peer = BackloggedPeer(peer_id)
    reactor.add_peer(peer)
    return reactor, peer


def test_a_request_flood_from_a_peer_that_does_not_read_costs_no_store_reads_and_is_banned(
    tmp_path: Path,
) -> None:
    reactor, peer = _serving_backlogged_peer(tmp_path, "hungry")
    status_sent = len(peer.sent)
    for _ in range(REQUEST_BACKLOG_BUDGET):
        reactor.receive(BLOCKSYNC_CHANNEL, peer, encode(BlockRequest(3)))
    assert len(peer.sent) == status_sent
    assert reactor.rejections.drops["request_backlog"] == REQUEST_BACKLOG_BUDGET
    assert peer.closed == []
    reactor.receive(BLOCKSYNC_CHANNEL, peer, encode(BlockRequest(3)))
    assert len(peer.sent) == status_sent
    assert len(peer.closed) == 1 and "does not read" in peer.closed[0]
    assert reactor.rejections.bans["request_flood"] == 1


def test_a_peer_that_reads_again_starts_a_fresh_backlog_budget(tmp_path: Path) -> None:
    """Big blocks may fill an honest peer's queue for a while: once it reads, its drops are forgiven."""
    reactor, peer = _serving_backlogged_peer(tmp_path, "slow-reader")
    for _ in range(3):
        peer.reading = False
        for _ in range(REQUEST_BACKLOG_BUDGET):
            reactor.receive(BLOCKSYNC_CHANNEL, peer, encode(BlockRequest(3)))
        peer.reading = True
        reactor.receive(BLOCKSYNC_CHANNEL, peer, encode(BlockRequest(3)))
    assert peer.closed == []
    assert reactor.rejections.drops["request_backlog"] == 3 * REQUEST_BACKLOG_BUDGET
    served = [message for message in peer.sent if isinstance(decode(message), BlockResponse)]
    assert len(served) == 3  # each time it read again, its request was answered
