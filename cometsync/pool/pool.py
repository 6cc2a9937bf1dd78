"""Sans-IO BlockPool: decides which height to ask from which peer and when to give up on a peer.

Semantics follow CometBFT v0.38.25 `blocksync/pool.go` (plus main's SyncTracker); improvements are listed in
docs/pool.md. No sockets, no global reactor: time comes from an injected clock, effects leave as actions that
the driver collects with `drain_actions()` after every call and after `tick()`. All timers live in one
heap (`timers.py`) that `tick()` pops and `next_deadline()` reads.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable
from typing import Generic, assert_never

from cometsync.clock import Clock
from cometsync.pool.actions import Action, PeerBanned, PeerError, RequestStatus, SendRequest
from cometsync.pool.config import PoolConfig
from cometsync.pool.peer import PoolPeer
from cometsync.pool.requester import BlockT, CommitT, Requester
from cometsync.pool.status import BanStatus, CaughtUp, PeerStatus, PoolStatus
from cometsync.pool.sync_tracker import SyncTracker
from cometsync.pool.timers import (
    BanExpiry,
    ConnWaitOver,
    LateExpiry,
    PeerTimeout,
    RateCheck,
    RetryDue,
    Timer,
    TimerHeap,
)

STRIKE_MEMORY = 1024
"""Peers whose refusals are remembered across reconnects (oldest forgotten first): bounded memory."""


class PoolError(RuntimeError):
    """The driver broke the pool's contract (e.g. popped a height without a block)."""


class AddBlockOutcome(enum.Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    """Second copy from a peer we asked too; dropped quietly."""
    LATE = "late"
    """Answer for a height already popped or given up on; dropped quietly (no disconnect)."""
    IGNORED_STOPPED = "stopped"
    """The pool stopped (switched to consensus); dropped quietly."""
    REJECTED = "rejected"
    """A block we did not ask this peer for; a PeerError was queued."""


class BlockPool(Generic[BlockT, CommitT]):
    """Requesters in height order over the peers' claimed ranges, bounded by count and by bytes."""

    def __init__(self, start_height: int, clock: Clock, config: PoolConfig | None = None) -> None:
        self.config = config or PoolConfig()
        self.start_height = start_height
        self.height = start_height
        self.max_peer_height = 0
        self._clock = clock
        self._running = False
        self._start_time: float | None = None
        self._timers = TimerHeap()
        self._requesters: dict[int, Requester[BlockT, CommitT]] = {}
        self._awaited: dict[int, Requester[BlockT, CommitT]] = {}
        """The requesters still without a block: requests go only to these, so no call walks all 600."""
        self._peers: dict[str, PoolPeer] = {}
        self._sorted_peers: list[PoolPeer] = []
        self._banned: dict[str, float] = {}
        self._late: dict[tuple[str, int], float] = {}
        """(peer, popped height) -> request time: a copy still owed; welcome until the retry period ends."""
        self._sizes: deque[int] = deque(maxlen=self.config.size_samples)
        self._bytes_held = 0
        self._strikes: dict[str, int] = {}
        """Peer -> refusals of heights it claimed (NoBlockResponse or timeout); kept across reconnects."""
        self._tracker = SyncTracker(self.config.no_block_timeout)
        self._actions: list[Action] = []

    # ------------------------------------------------------------------ lifecycle

    @property
    def is_running(self) -> bool:
        return self._running

    def start(self) -> None:
        """Begin the peer-connect wait; requests start `peer_conn_wait` seconds later."""
        self._running = True
        self._start_time = self._now()
        self._timers.arm(self._start_time + self.config.rate_sample_period, RateCheck())
        self._timers.arm(self._start_time + self.config.peer_conn_wait, ConnWaitOver())

    def stop(self) -> None:
        """Switch to consensus: forget requests and held blocks; later blocks are dropped quietly."""
        self._running = False
        self._requesters.clear()
        self._awaited.clear()
        self._late.clear()
        self._timers.clear()
        self._bytes_held = 0

    def drain_actions(self) -> list[Action]:
        actions, self._actions = self._actions, []
        return actions

    # ------------------------------------------------------------------ peers

    def set_peer_range(self, peer_id: str, base: int, height: int) -> None:
        """A StatusResponse: add the peer, or update it; impossible or shrinking ranges get it banned."""
        if base > height:
            self._remove_and_ban(peer_id, f"reported base {base} > height {height}")
            self.make_requests()
            return
        peer = self._peers.get(peer_id)
        if peer is not None:
            if base < peer.base or height < peer.height:
                reason = f"lowered its range from [{peer.base}, {peer.height}] to [{base}, {height}]"
                self._remove_and_ban(peer_id, reason)
                self.make_requests()
                return
            refused = peer.refused_from
            if refused is not None and base <= refused <= height:
                self._remove_and_ban(
                    peer_id, f"still claims [{base}, {height}] after refusing block {refused}"
                )
                self.make_requests()
                return
            if refused is not None and refused < base:
                peer.refused_from = None  # it pruned that block: an honest refusal
            peer.base, peer.height = base, height
        else:
            if self.is_peer_banned(peer_id):
                return
            peer = PoolPeer(peer_id, base, height, self._now(), self.config)
            self._peers[peer_id] = peer
            self._sorted_peers.insert(0, peer)  # unmeasured peers are tried first, like CometBFT
        self._update_max_peer_height()
        self.make_requests()

    def remove_peer(self, peer_id: str) -> None:
        """The peer disconnected: re-ask its outstanding heights elsewhere; blocks it delivered are kept."""
        self._remove_peer(peer_id, drop_blocks=False)
        self.make_requests()

    def punish_block_senders(self, heights: Iterable[int], reason: str) -> list[str]:
        """Ban and disconnect whoever sent the blocks at `heights` and drop their blocks.

        The sync loop passes one height when verification names the faulty block, both of (first, second)
        otherwise (CometBFT's rule).
        """
        senders: list[str] = []
        for height in heights:
            requester = self._requesters.get(height)
            sender = requester.sender if requester is not None else None
            if sender is not None and sender not in senders:
                senders.append(sender)
        for sender in senders:  # all gone before anything is re-asked, so no sender gets it again
            self._remove_and_ban(sender, reason)
        self.make_requests()
        return senders

    def is_peer_banned(self, peer_id: str) -> bool:
        until = self._banned.get(peer_id)
        return until is not None and until > self._now()

    def has_pending_request_from(self, peer_id: str) -> bool:
        """True if `peer_id` may legitimately send us a BlockResponse now (pre-decode filter)."""
        if any(requester.may_answer(peer_id) for requester in self._requesters.values()):
            return True
        return any(late_peer == peer_id for late_peer, _ in self._late)

    def expects_block(self, peer_id: str, height: int) -> bool:
        """True if `peer_id` owes us the block at `height` (asked, given up on, or a late copy still due)."""
        requester = self._requesters.get(height)
        if requester is not None and (peer_id in requester.outstanding or peer_id in requester.former):
            return True
        return (peer_id, height) in self._late

    # ------------------------------------------------------------------ blocks

    def add_block(
        self, peer_id: str, block: BlockT, ext_commit: CommitT | None, size: int
    ) -> AddBlockOutcome:
        """A BlockResponse of `size` bytes on the wire."""
        if not self._running:
            return AddBlockOutcome.IGNORED_STOPPED
        height = block.height
        if ext_commit is not None and ext_commit.height != height:
            return self._reject(peer_id, f"block height {height} != ext commit height {ext_commit.height}")
        requester = self._requesters.get(height)
        if requester is None:
            requested_at = self._late.pop((peer_id, height), None)
            if requested_at is not None:
                self._credit_delivery(peer_id, size, requested_at)
                return AddBlockOutcome.LATE
            if height > self.height or height < self.start_height:
                return self._reject(peer_id, f"sent unexpected block {height} (pool height {self.height})")
            self._credit_delivery(peer_id, size, None)  # a very late copy (given up on): still alive
            return AddBlockOutcome.LATE
        if not requester.may_answer(peer_id):
            return self._reject(peer_id, f"sent block {height} we requested from {requester.slot_peers()}")
        self._credit_delivery(peer_id, size, requester.outstanding.pop(peer_id, None))
        requester.former.discard(peer_id)
        if requester.block is not None:
            return AddBlockOutcome.DUPLICATE
        requester.set_block(block, ext_commit, size, peer_id)
        del self._awaited[height]
        self._bytes_held += size
        self.make_requests()
        return AddBlockOutcome.ACCEPTED

    def redo_request_from(self, height: int, peer_id: str) -> None:
        """A NoBlockResponse: free the slot and ask someone else; refusing a claimed height is a strike.

        The peer is not asked for `height` or above again (its servable height drops below it, and so may
        `max_peer_height`: a liar's claim stops holding us in blocksync at once) and is asked for its status:
        if it still claims the height it is banned and dropped (an honest peer that pruned it reports a
        higher base). At `max_refusals` strikes it is banned and dropped without waiting for its status.
        """
        requester = self._requesters.get(height)
        peer = self._peers.get(peer_id)
        if requester is None or peer is None or not requester.may_answer(peer_id):
            return
        self._redo(requester, peer_id, drop_block=True)
        first_refusal = peer.refused_from is None
        if peer.refused(height):
            reason = f"refused block {height} while claiming [{peer.base}, {peer.height}]"
            if not self._strike(peer_id, reason):
                if first_refusal:
                    self._actions.append(RequestStatus(peer_id))
                self._update_max_peer_height()
        self.make_requests()

    def peek_two_blocks(self) -> tuple[BlockT | None, BlockT | None, CommitT | None]:
        """Blocks at height and height+1 (the second carries the first's commit), the first's ext commit."""
        first = self._requesters.get(self.height)
        second = self._requesters.get(self.height + 1)
        return (
            first.block if first is not None else None,
            second.block if second is not None else None,
            first.ext_commit if first is not None else None,
        )

    def pop_request(self, verified_header_time: float) -> None:
        """The block at `height` was verified and applied; its header time (Unix s) feeds the SyncTracker."""
        requester = self._requesters.get(self.height)
        if requester is None or requester.block is None:
            raise PoolError(f"no block to pop at height {self.height}")
        now = self._now()
        del self._requesters[self.height]
        self._bytes_held -= requester.block_size
        for peer_id, requested_at in requester.outstanding.items():
            self._late[(peer_id, requester.height)] = requested_at
            self._timers.arm(
                requested_at + self.config.retry_seconds, LateExpiry(peer_id, requester.height, requested_at)
            )
        self.height += 1
        self._tracker.record_block(verified_header_time, now)
        self._update_max_peer_height()
        self.make_requests()

    # ------------------------------------------------------------------ sync state

    def is_caught_up(self) -> CaughtUp:
        """CometBFT's height test (minus its off-by-one), with main's escape from lying or throttling peers.

        The tip block cannot be verified (its commit arrives with the next block), so `height` (the next block
        to apply) can reach `max_peer_height` but not pass it; CometBFT's `>= max_peer_height - 1` lets a
        racing switch check hand off two blocks short of the tip, so we wait for the last provable block.
        """
        if not self._peers:
            return CaughtUp(False, "no peers")
        now = self._now()
        since_start = now - self._start_time if self._start_time is not None else 0.0
        received_or_waited = self.height > 0 or since_start > self.config.received_block_or_wait
        if received_or_waited and (self.max_peer_height == 0 or self.height >= self.max_peer_height):
            return CaughtUp(True, f"height {self.height} reached max peer height {self.max_peer_height}")
        if since_start >= self.config.peer_conn_wait:
            if self._tracker.has_blocks:
                if self._tracker.is_caught_up(now):
                    threshold = self._tracker.no_block_threshold(now)
                    return CaughtUp(True, f"no verified block for {threshold:.1f}s")
            elif since_start >= self.config.peer_conn_wait + self.config.no_block_timeout:
                return CaughtUp(True, f"no block since start ({since_start:.1f}s)")
        return CaughtUp(False, f"height {self.height} behind max peer height {self.max_peer_height}")

    def status(self) -> PoolStatus:
        now = self._now()
        peers = tuple(
            PeerStatus(
                p.peer_id,
                p.base,
                p.height,
                p.num_pending,
                p.byte_rate(now),
                p.block_rate(now),
                p.blocks_delivered,
            )
            for p in self._sorted_peers
        )
        banned = tuple(BanStatus(peer, until - now) for peer, until in self._banned.items() if until > now)
        return PoolStatus(
            running=self._running,
            height=self.height,
            start_height=self.start_height,
            max_peer_height=self.max_peer_height,
            num_requesters=len(self._requesters),
            num_awaiting_block=len(self._awaited),
            num_in_flight=sum(len(r.outstanding) for r in self._requesters.values()),
            bytes_held=self._bytes_held,
            window_bytes=self.config.window_bytes,
            block_size_estimate=self._size_estimate(),
            peers=peers,
            banned=banned,
        )

    # ------------------------------------------------------------------ time

    def tick(self) -> None:
        """Fire the timers that are due (timeouts, retries, rate checks, expiries); then request more."""
        if not self._running:
            return
        now = self._now()
        for timer in self._timers.pop_due(now):
            self._fire(timer, now)
        self.make_requests()

    def next_deadline(self) -> float | None:
        """Clock time at which `tick()` next has work (None when stopped); may be a timer gone stale."""
        if not self._running:
            return None
        return self._timers.next_at()

    def _fire(self, timer: Timer, now: float) -> None:
        """Act on a due timer if what armed it still holds."""
        match timer:
            case RateCheck():
                self._check_rates(now)
                self._timers.arm(now + self.config.rate_sample_period, RateCheck())
            case ConnWaitOver():
                pass  # tick() makes the first requests
            case PeerTimeout(peer_id=peer_id, since=since):
                peer = self._peers.get(peer_id)
                if peer is None or peer.waiting_since != since:
                    return
                timeout = self._peer_timeout()
                if since + timeout > now:  # blocks got bigger since it was armed
                    self._timers.arm(since + timeout, timer)
                    return
                self._timed_out(peer_id, f"peer did not send us any block for {timeout:.0f}s")
            case RetryDue(height=height, deadline=deadline):
                requester = self._requesters.get(height)
                if requester is not None and requester.block is None and requester.retry_deadline == deadline:
                    self._give_up_requests(requester)
            case BanExpiry(peer_id=peer_id, until=until):
                if self._banned.get(peer_id) == until:
                    del self._banned[peer_id]
            case LateExpiry(peer_id=peer_id, height=height, requested_at=requested_at):
                if self._late.get((peer_id, height)) == requested_at:
                    del self._late[(peer_id, height)]
                    self._release(peer_id)
            case _:
                assert_never(timer)

    # ------------------------------------------------------------------ requesting

    def make_requests(self) -> None:
        """Create requesters in height order within the count and byte windows, then give each a peer."""
        if not self._running or self._start_time is None:
            return
        now = self._now()
        if now < self._start_time + self.config.peer_conn_wait:
            return
        self._create_requesters()
        room = self.config.max_pending_per_peer
        if not any(peer.num_pending < room for peer in self._sorted_peers):
            return  # every slot is taken: nothing to send (the common case while blocks stream in)
        for height in sorted(self._awaited):
            self._fill_slots(self._awaited[height], now)

    def _watch(self, peer: PoolPeer) -> None:
        """Arm the no-block timeout from when the peer last started owing or delivered."""
        if peer.waiting_since is not None:
            since = peer.waiting_since
            self._timers.arm(since + self._peer_timeout(), PeerTimeout(peer.peer_id, since))

    def _create_requesters(self) -> None:
        if len(self._requesters) >= self.config.max_requesters:
            return
        awaiting_cap = len(self._peers) * self.config.max_pending_per_peer
        while len(self._awaited) < awaiting_cap and len(self._requesters) < self.config.max_requesters:
            next_height = self.height + len(self._requesters)
            if next_height > self.max_peer_height or not self._window_admits(len(self._awaited)):
                return
            self._requesters[next_height] = self._awaited[next_height] = Requester(next_height)

    def _window_admits(self, awaiting: int) -> bool:
        """Room for one more awaited block? The first two heights always fit (progress needs them)."""
        if len(self._requesters) < 2:
            return True
        estimate = self._size_estimate()
        if estimate is None:  # no block seen yet: its size could be anything
            return False
        return self._bytes_held + (awaiting + 1) * estimate <= self.config.window_bytes

    def _size_estimate(self) -> int | None:
        return max(self._sizes) if self._sizes else None

    def _fill_slots(self, requester: Requester[BlockT, CommitT], now: float) -> None:
        requester.promote_second()
        sent = False
        if requester.primary is None:
            if not self._send_to_available_peer(requester, now, second=False):
                return
            sent = True
        near_tip = requester.height - self.height < self.config.second_request_distance
        if near_tip and requester.second is None:
            sent = self._send_to_available_peer(requester, now, second=True) or sent
        if sent:
            requester.retry_deadline = now + self.config.retry_seconds
            self._timers.arm(requester.retry_deadline, RetryDue(requester.height, requester.retry_deadline))

    def _send_to_available_peer(
        self, requester: Requester[BlockT, CommitT], now: float, *, second: bool
    ) -> bool:
        """Fastest peer that has room and the height; peers we just gave up on only as a last resort."""
        candidates = self._sorted_peers
        if requester.former:
            candidates = sorted(candidates, key=lambda p: p.peer_id in requester.former)
        for peer in candidates:
            if (
                requester.asked(peer.peer_id)
                or peer.num_pending >= self.config.max_pending_per_peer
                or not peer.can_serve(requester.height)
            ):
                continue
            was_idle = peer.num_pending == 0
            peer.add_pending(now)
            if was_idle:  # its no-block timeout starts now; later requests do not move it
                self._watch(peer)
            requester.assign(peer.peer_id, now, second=second)
            self._actions.append(SendRequest(peer.peer_id, requester.height))
            return True
        return False

    def _give_up_requests(self, requester: Requester[BlockT, CommitT]) -> None:
        """Retry timer: free the asked peers' slots (their late answer stays welcome) and start over."""
        for peer_id in list(requester.outstanding):
            requester.clear_slot(peer_id)
            self._release(peer_id)
            requester.former.add(peer_id)
        requester.primary = requester.second = None
        requester.retry_deadline = None

    # ------------------------------------------------------------------ internals

    def _now(self) -> float:
        return self._clock.seconds()

    def _peer_timeout(self) -> float:
        """CometBFT's 15 s, stretched for blocks too big to arrive in it at the minimum rate."""
        estimate = self._size_estimate() or 0
        return max(self.config.peer_timeout, estimate / self.config.min_recv_rate)

    def _reject(self, peer_id: str, reason: str) -> AddBlockOutcome:
        self._actions.append(PeerError(peer_id, reason))
        return AddBlockOutcome.REJECTED

    def _credit_delivery(self, peer_id: str, size: int, requested_at: float | None) -> None:
        """Any block a peer sends proves it alive, even a copy we no longer need."""
        self._sizes.append(size)
        peer = self._peers.get(peer_id)
        if peer is not None:
            peer.delivered(self._now(), size, requested_at)
            self._watch(peer)

    def _release(self, peer_id: str) -> None:
        peer = self._peers.get(peer_id)
        if peer is not None:
            peer.release_pending()

    def _redo(self, requester: Requester[BlockT, CommitT], peer_id: str, *, drop_block: bool) -> None:
        if requester.clear_slot(peer_id):
            self._release(peer_id)
        requester.former.discard(peer_id)
        if drop_block and requester.sender == peer_id:
            self._bytes_held -= requester.drop_block()
            self._awaited[requester.height] = requester
            for other in requester.slot_peers():
                if other not in requester.outstanding:  # it answered too, but its copy was discarded
                    requester.clear_slot(other)

    def _remove_peer(self, peer_id: str, *, drop_blocks: bool) -> None:
        for requester in self._requesters.values():
            self._redo(requester, peer_id, drop_block=drop_blocks)
        peer = self._peers.pop(peer_id, None)
        if peer is not None:
            self._sorted_peers.remove(peer)
        self._late = {key: until for key, until in self._late.items() if key[0] != peer_id}
        self._update_max_peer_height()

    def _remove_and_ban(self, peer_id: str, reason: str) -> None:
        """Lies and bad blocks: forget the peer and its blocks, keep it out and disconnected for a while."""
        self._remove_peer(peer_id, drop_blocks=True)
        self._strikes.pop(peer_id, None)
        until = self._now() + self.config.ban_seconds
        self._banned[peer_id] = until
        self._timers.arm(until, BanExpiry(peer_id, until))
        self._actions.append(PeerBanned(peer_id, reason, until, disconnect=True))

    def _drop_peer(self, peer_id: str, reason: str) -> None:
        self._actions.append(PeerError(peer_id, reason))
        self._remove_peer(peer_id, drop_blocks=False)

    def _timed_out(self, peer_id: str, reason: str) -> None:
        """A peer that owes claimed blocks and sends none: dropped, and banned at its last strike."""
        if not self._strike(peer_id, reason):
            self._drop_peer(peer_id, reason)

    def _strike(self, peer_id: str, reason: str) -> bool:
        """Count a refusal; at `max_refusals` the peer is banned and dropped (returns True)."""
        strikes = self._strikes.pop(peer_id, 0) + 1
        if strikes >= self.config.max_refusals:
            self._remove_and_ban(peer_id, f"{reason} ({strikes} refusals)")
            return True
        self._strikes[peer_id] = strikes  # re-inserted last: the oldest entry is evicted first
        if len(self._strikes) > STRIKE_MEMORY:
            del self._strikes[next(iter(self._strikes))]
        return False

    def _check_rates(self, now: float) -> None:
        """Re-sort peers by blocks/s; drop a peer only if slow in bytes AND its blocks take far longer."""
        for peer in self._peers.values():
            if peer.num_pending > 0:
                peer.sort_rate = peer.block_rate(now)
        judged = {
            peer.peer_id: peer.latency
            for peer in self._peers.values()
            if peer.num_pending > 0
            and peer.latency is not None
            and peer.latency_samples >= self.config.latency_samples
        }
        slow: list[tuple[str, float, float]] = []
        for peer_id, latency in judged.items():
            others = (other for other_id, other in judged.items() if other_id != peer_id)
            best_other = min(others, default=None)
            if (
                best_other is not None
                and latency > self.config.slow_latency_factor * best_other
                and self._peers[peer_id].byte_rate(now) < self.config.min_recv_rate
            ):
                slow.append((peer_id, latency, best_other))
        for peer_id, latency, best_other in slow:
            self._drop_peer(peer_id, f"answers in {latency:.2f}s, another peer in {best_other:.2f}s")
        self._sorted_peers.sort(key=lambda p: p.sort_rate, reverse=True)

    def _update_max_peer_height(self) -> None:
        """Max servable height (claims capped by refusals), ignoring peers pruned beyond our height."""
        highest = max(
            (
                p.servable_height
                for p in self._peers.values()
                if not (self.height > 0 and p.base > self.height)
            ),
            default=0,
        )
        dropped = highest < self.max_peer_height
        self.max_peer_height = highest
        if dropped:
            self._prune_unservable_top()

    def _prune_unservable_top(self) -> None:
        """Unasked requesters above every claim go, highest first (so heights stay contiguous)."""
        while self._requesters:
            top = self.height + len(self._requesters) - 1
            requester = self._requesters[top]
            in_use = requester.block is not None or requester.slot_peers() or requester.former
            if top <= self.max_peer_height or in_use:
                return
            del self._requesters[top]
            del self._awaited[top]
