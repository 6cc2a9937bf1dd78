"""A simulated network of fake peers driving a BlockPool on a twisted Clock (the pool tests' harness).

Like CometBFT's pool_test.go `testPeer`s, but every answer is scheduled on a `task.Clock`, so runs are
deterministic and take no real time. The tests at the bottom check the fake peers themselves.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import assert_never

from twisted.internet import task

from cometsync.clock import Periodic
from cometsync.pool import (
    Action,
    AddBlockOutcome,
    BlockPool,
    PeerBanned,
    PeerError,
    PoolConfig,
    RequestStatus,
    SendRequest,
)

GENESIS_TIME = 1_700_000_000.0
BLOCK_INTERVAL = 1.0
MALICIOUS_LIE = 5
BLACKHOLE_SIZE = 3


@dataclass(frozen=True)
class SimBlock:
    """A block as the pool sees it; `genuine` is False for a liar's fake (CometBFT's nil LastCommit)."""

    height: int
    time: float
    genuine: bool = True


@dataclass(frozen=True)
class SimCommit:
    height: int


def block_time(height: int) -> float:
    return GENESIS_TIME + height * BLOCK_INTERVAL


@dataclass
class FakePeer:
    """Serves requests one after another, `service_time` each; liars claim MALICIOUS_LIE extra heights."""

    peer_id: str
    base: int
    height: int
    service_time: float = 0.01
    block_size: int = 123
    silent: bool = False
    missing: frozenset[int] = frozenset()
    malicious: bool = False
    answers_status: bool = True
    connected: bool = True
    served: list[int] = field(default_factory=list)
    _free_at: float = 0.0

    def answer_time(self, now: float) -> float:
        self._free_at = max(self._free_at, now) + self.service_time
        return self._free_at

    def answer(self, height: int) -> SimBlock | None:
        """The block to send for `height`, or None for a NoBlockResponse."""
        if height in self.missing:
            return None
        if self.malicious:
            real_height = self.height - MALICIOUS_LIE
            if height > real_height:
                if height <= real_height + BLACKHOLE_SIZE:
                    return None
                return SimBlock(height, block_time(height), genuine=False)
        if not self.base <= height <= self.height:
            return None
        return SimBlock(height, block_time(height))


def make_peers(rng: random.Random, count: int, min_height: int, max_height: int) -> list[FakePeer]:
    """CometBFT's makePeers: random heights in [min, max), bases min+i (capped at the height)."""
    peers = []
    for i in range(count):
        height = min_height + rng.randrange(max_height - min_height)
        peers.append(FakePeer(f"peer{i:02d}", min(min_height + i, height), height))
    return peers


Verifier = Callable[["SimNetwork"], None]


def pop_verified(net: SimNetwork) -> None:
    """The pool routine: pop while two blocks are present; a fake second block bans its sender."""
    for _ in range(1000):
        first, second, _ = net.pool.peek_two_blocks()
        if first is None or second is None:
            return
        if not second.genuine:
            assert net.pool.punish_block_senders([second.height], "fake block")
            return
        net.pool.pop_request(first.time)


class SimNetwork:
    """Wires fake peers to a pool: performs the pool's actions and delivers answers via the clock."""

    def __init__(
        self,
        peers: list[FakePeer],
        start_height: int,
        config: PoolConfig | None = None,
        *,
        disconnect_on_error: bool = True,
        verifier: Verifier | None = pop_verified,
        verify_interval: float = 0.0,
        clock_start: float | None = None,
    ) -> None:
        self.clock = task.Clock()
        self.clock.advance(clock_start if clock_start is not None else block_time(start_height) + 3600)
        self.pool: BlockPool[SimBlock, SimCommit] = BlockPool(start_height, self.clock, config)
        self.peers = {peer.peer_id: peer for peer in peers}
        self.requests: list[SendRequest] = []
        self.errors: list[PeerError] = []
        self.bans: list[PeerBanned] = []
        self.outcomes: list[AddBlockOutcome] = []
        self.max_bytes_held = 0
        self._disconnect_on_error = disconnect_on_error
        self._verifier = verifier
        self._verify_interval = verify_interval
        self._next_verify = 0.0

    def start(self) -> None:
        self.pool.start()
        for peer in self.peers.values():
            self.introduce(peer)

    def introduce(self, peer: FakePeer) -> None:
        self.pool.set_peer_range(peer.peer_id, peer.base, peer.height)
        self.pump()

    def pump(self) -> None:
        """Perform every queued action (bounded: actions cause answers only later, via the clock)."""
        for _ in range(10_000):
            actions = self.pool.drain_actions()
            if not actions:
                return
            for action in actions:
                self._perform(action)
        raise AssertionError("pool keeps producing actions")

    def _perform(self, action: Action) -> None:
        match action:
            case SendRequest():
                self.requests.append(action)
                peer = self.peers[action.peer_id]
                if peer.connected and not peer.silent:
                    at = peer.answer_time(self.clock.seconds())
                    self.clock.callLater(at - self.clock.seconds(), self._deliver, peer, action.height)
            case RequestStatus(peer_id=peer_id):
                peer = self.peers[peer_id]
                if peer.connected and peer.answers_status:
                    self.clock.callLater(peer.service_time, self._answer_status, peer)
            case PeerError():
                self.errors.append(action)
                self._disconnect(action.peer_id)
            case PeerBanned():
                self.bans.append(action)
                if action.disconnect:
                    self._disconnect(action.peer_id)
            case _:
                assert_never(action)

    def _answer_status(self, peer: FakePeer) -> None:
        if peer.connected:
            self.introduce(peer)

    def _disconnect(self, peer_id: str) -> None:
        if self._disconnect_on_error:
            self.peers[peer_id].connected = False
            self.pool.remove_peer(peer_id)

    def _deliver(self, peer: FakePeer, height: int) -> None:
        if not peer.connected:
            return
        peer.served.append(height)
        block = peer.answer(height)
        if block is None:
            self.pool.redo_request_from(height, peer.peer_id)
        else:
            self.outcomes.append(self.pool.add_block(peer.peer_id, block, SimCommit(height), peer.block_size))
        self.max_bytes_held = max(self.max_bytes_held, self.pool.status().bytes_held)
        self.pump()

    def step(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.pool.tick()
        self.pump()
        now = self.clock.seconds()
        if self._verifier is not None and now >= self._next_verify:
            self._verifier(self)
            self._next_verify = now + self._verify_interval
            self.pump()

    def every(self, interval: float, action: Callable[[], None]) -> Periodic:
        """Run `action` every `interval` simulated seconds (first call after one interval)."""
        loop = Periodic(self.clock, interval, action)
        loop.start()
        return loop

    def run_until(self, done: Callable[[], bool], *, step: float = 0.01, max_seconds: float = 60.0) -> bool:
        """Step the clock until `done()`; False if `max_seconds` of simulated time pass first."""
        for _ in range(int(max_seconds / step) + 1):
            if done():
                return True
            self.step(step)
        return done()


def test_honest_peer_answers_after_its_service_time() -> None:
    peer = FakePeer("a", 1, 10, service_time=0.5)
    net = SimNetwork([peer], 1, verifier=None)
    net.start()
    net.step(3.0)  # peer_conn_wait
    assert net.requests[0] == SendRequest("a", 1)
    assert peer.served == []
    net.step(0.5)
    assert peer.served == [1]
    assert net.outcomes[0] is AddBlockOutcome.ACCEPTED


def test_liar_blackholes_then_fakes_above_its_real_height() -> None:
    liar = FakePeer("bad", 1, 7 + MALICIOUS_LIE, malicious=True)
    assert liar.answer(7) == SimBlock(7, block_time(7))
    assert [liar.answer(h) for h in (8, 9, 10)] == [None, None, None]
    assert liar.answer(11) == SimBlock(11, block_time(11), genuine=False)
