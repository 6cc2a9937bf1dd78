"""The p2p-facing blocksync reactor on channel 0x40: serves blocks and statuses, feeds the pool, hands off.

Twisted glue around sans-IO parts: the pool decides what to request and whom to drop, the sync loop
verifies and applies, the filter and codec check bytes. Everything runs on the reactor thread; only the
verify-ahead executor may complete elsewhere (bridged with `call_from_thread`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar, assert_never

from twisted.internet import defer
from twisted.python.failure import Failure

from cometsync.blocksync.codec import (
    BLOCKSYNC_CHANNEL,
    CHANNEL_PRIORITY,
    MAX_MSG_SIZE,
    RECV_BUFFER_CAPACITY,
    SEND_QUEUE_CAPACITY,
    BlockRequest,
    BlockResponse,
    BlocksyncMessage,
    MessageDecodeError,
    NoBlockResponse,
    StatusRequest,
    StatusResponse,
    decode,
    encode,
    encode_block_response,
    max_message_size,
)
from cometsync.blocksync.handoff import ConsensusHandoff
from cometsync.blocksync.metrics import SyncMetrics
from cometsync.blocksync.msg_filter import FilterRejected, MsgBytesFilter, Verdict
from cometsync.blocksync.phase import FILTER_STATES, NEXT_PHASES, POOL_RUNS, Phase, SyncFailure
from cometsync.blocksync.ports import BlockApplier, BlockWriter, ChainStateView, StateT
from cometsync.blocksync.sync_loop import SyncLoop
from cometsync.blocksync.verify import VerifiedBlock
from cometsync.blocksync.verify_ahead import InlineExecutor, VerifyAhead
from cometsync.clock import Clock, DelayedCall, Periodic, cancel_call
from cometsync.p2p.channel import ChannelDescriptor
from cometsync.p2p.reactor import Reactor
from cometsync.p2p.rejections import RejectionLog
from cometsync.pool import Action, BlockPool, PeerBanned, PeerError, PoolConfig, RequestStatus, SendRequest
from cometsync.pool.pool import AddBlockOutcome
from cometsync.store.errors import StoreError
from cometsync.types import Block, ExtendedCommit

log = logging.getLogger(__name__)

REQUEST_BACKLOG_BUDGET = 200
"""BlockRequests a peer may send while not reading its answers before it is banned. An honest CometBFT
peer has at most 20 requests in flight and re-asks a height only after its 15 s timeout, so it stays
far below this even while a few big blocks fill its send queue."""

ResultT = TypeVar("ResultT")
SEND_QUEUE_MAX_BYTES = 64 * 1024 * 1024
"""Blocks queued for one peer (an honest CometBFT peer has at most ~40 requests out)."""
THREAD_DECODE_BYTES = 256 * 1024
"""Messages at least this big are decoded on the worker thread (when the reactor has one)."""


def blocksync_channel(recv_message_capacity: int = MAX_MSG_SIZE) -> ChannelDescriptor:
    """Channel 0x40 as CometBFT declares it, with the receive capacity the chain's block size allows."""
    return ChannelDescriptor(
        id=BLOCKSYNC_CHANNEL,
        priority=CHANNEL_PRIORITY,
        send_queue_capacity=SEND_QUEUE_CAPACITY,
        recv_buffer_capacity=RECV_BUFFER_CAPACITY,
        recv_message_capacity=recv_message_capacity,
        send_queue_max_bytes=SEND_QUEUE_MAX_BYTES,
    )


class BlocksyncPeer(Protocol):
    """What the reactor uses of a `p2p.Peer`."""

    @property
    def id(self) -> str: ...

    def send(self, channel_id: int, msg_bytes: bytes) -> bool: ...

    def try_send(self, channel_id: int, msg_bytes: bytes) -> bool: ...

    def can_send(self, channel_id: int) -> bool: ...

    def close(self, reason: str) -> None: ...


@dataclass(frozen=True)
class ReactorConfig:
    """Intervals as CometBFT v0.38 (status poll 10 s, switch check 1 s) and the verify-ahead depth."""

    status_interval: float = 10.0
    switch_interval: float = 1.0
    follow_status_interval: float = 1.0
    """Status poll once following the chain after the switch (CometBFT main's adaptive sync)."""
    max_verify_ahead: int = 32
    pool: PoolConfig = field(default_factory=PoolConfig)


class BlocksyncReactor(Reactor, Generic[StateT]):
    """CometBFT's blocksync `Reactor`: one instance per node, `start(blocksync=...)` once."""

    def __init__(
        self,
        state: StateT,
        store: BlockWriter,
        executor: BlockApplier[StateT],
        handoff: ConsensusHandoff[StateT],
        clock: Clock,
        *,
        local_address: bytes | None = None,
        verify_executor: Executor | None = None,
        call_from_thread: Callable[[Callable[[], None]], None] | None = None,
        config: ReactorConfig | None = None,
    ) -> None:
        """`verify_executor` runs commit checks ahead (default inline); pass `reactor.callFromThread` as
        `call_from_thread` when it completes jobs in other threads. The executor writes each block (give
        it `run_in_thread(reactor)` to keep those writes off the reactor thread)."""
        if store.height not in (0, state.last_block_height):
            # An empty store beside a state at H is a state-synced home (CometBFT's offline state sync
            # height): blocksync starts at H+1. The node checks the bootstrap marker before this.
            raise ValueError(
                f"state (height {state.last_block_height}) and block store (height {store.height}) disagree"
            )
        self.config = config or ReactorConfig()
        self.store = store
        self.metrics = SyncMetrics()
        self._handoff = handoff
        self._clock = clock
        self._local_address = local_address
        self._peers: dict[str, BlocksyncPeer] = {}
        self._backlog_drops: dict[str, int] = {}
        """BlockRequests dropped per peer since its send queue last had room."""
        start_height = max(state.last_block_height + 1, state.initial_height)
        self.pool: BlockPool[Block, ExtendedCommit] = BlockPool(start_height, clock, self.config.pool)
        capacity = max_message_size(state.consensus_params.block_max_bytes)
        self._channel = blocksync_channel(capacity)
        self.filter = MsgBytesFilter(self.pool.expects_block, max_message_size=capacity)
        self._rejections = RejectionLog(clock)
        self._decoder = (
            ThreadPoolExecutor(1, thread_name_prefix="blocksync-decode")
            if call_from_thread is not None
            else None
        )
        self._relay = call_from_thread or _call_now
        self.ahead = VerifyAhead(
            verify_executor or InlineExecutor(), self._verdict_ready, self.config.max_verify_ahead
        )
        self.loop: SyncLoop[StateT] = SyncLoop(
            state,
            self.pool,
            store,
            executor,
            self.ahead,
            clock,
            self.metrics,
            pool_call=self._pool_call,
            on_applied=self._block_applied,
            on_fatal=self._sync_failed,
        )
        self._phase = Phase.IDLE
        self._phase_after_switch = Phase.SWITCHED
        self._failure: SyncFailure | None = None
        self.failed: defer.Deferred[SyncFailure] = defer.Deferred()
        """Fires once, on entering FAILED (the node stops on it)."""
        self._tick_call: DelayedCall | None = None
        status_poll = Periodic(clock, self.config.status_interval, self.broadcast_status_request)
        follow_poll = Periodic(clock, self.config.follow_status_interval, self.broadcast_status_request)
        switch_check = Periodic(clock, self.config.switch_interval, self.check_switch_to_consensus)
        self._periodics = (status_poll, follow_poll, switch_check)
        self._periodics_in: dict[Phase, tuple[Periodic, ...]] = {
            Phase.SYNCING: (status_poll, switch_check),
            Phase.FOLLOWING: (follow_poll,),
        }

    @property
    def state(self) -> StateT:
        """The state after the last applied block (the one handed to consensus after the switch)."""
        return self.loop.state

    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def failure(self) -> SyncFailure | None:
        """Set once the phase is FAILED."""
        return self._failure

    # ------------------------------------------------------------------ lifecycle

    def start(self, blocksync: bool = True) -> None:
        """Serve peers; with `blocksync`, also sync (or hand off at once if only we can make blocks)."""
        if not blocksync:
            return
        if self._only_validator_is_us():
            log.info("we are the only validator: switching to consensus without blocksync")
            self._switch("only validator", blocks_synced=0)
            return
        self._enter(Phase.SYNCING)
        self.broadcast_status_request()

    def stop(self) -> None:
        """Stop syncing or following without a hand-off (node shutdown); a failed reactor stays FAILED."""
        if Phase.STOPPED in NEXT_PHASES[self._phase]:
            self._enter(Phase.STOPPED)
        if self._decoder is not None:
            self._decoder.shutdown(wait=False, cancel_futures=True)
            self._decoder = None

    def follow_after_switch(self) -> None:
        """Keep fetching, verifying and applying blocks after the hand-off (the `follow` engine asks this).

        The pool and sync loop stay as they are; only the caught-up check stops and peers are polled for
        their status every `follow_status_interval`, so each newly committed block is ingested.
        """
        self._phase_after_switch = Phase.FOLLOWING

    def _enter(self, phase: Phase) -> None:
        """The one transition: the filter, `metrics.syncing`, the pool, the loop and the periodic calls all
        follow the phase from here."""
        if phase not in NEXT_PHASES[self._phase]:
            raise RuntimeError(f"blocksync cannot go from {self._phase.name} to {phase.name}")
        self._phase = phase
        self.filter.state = FILTER_STATES[phase]
        self.metrics.syncing = phase is Phase.SYNCING
        running = self._periodics_in.get(phase, ())
        for periodic in self._periodics:
            if periodic not in running:
                periodic.stop()
        if phase is Phase.SYNCING:
            self._pool_call(self.pool.start)
        elif phase not in POOL_RUNS:
            self.loop.stop()
            self.pool.stop()
            cancel_call(self._tick_call)
            self._tick_call = None
        for periodic in running:
            periodic.start()

    # ------------------------------------------------------------------ p2p.Reactor

    def get_channels(self) -> list[ChannelDescriptor]:
        return [self._channel]

    def add_peer(self, peer: BlocksyncPeer) -> None:
        """Tell a new peer our range; it enters the pool once its own StatusResponse arrives."""
        self._peers[peer.id] = peer
        peer.send(BLOCKSYNC_CHANNEL, encode(self._status()))

    def remove_peer(self, peer: BlocksyncPeer, reason: str) -> None:
        if self._peers.get(peer.id) is peer:
            del self._peers[peer.id]
            self.filter.forget(peer.id)
            self._backlog_drops.pop(peer.id, None)
        if self.pool.is_running:
            self._pool_call(lambda: self.pool.remove_peer(peer.id))

    def peek_msg_prefix(self, channel_id: int, peer: BlocksyncPeer, prefix: bytes) -> bool:
        """A long message's first bytes: an unasked BlockResponse is discarded before the rest is buffered."""
        if channel_id != BLOCKSYNC_CHANNEL:
            return True
        return self._judge(peer, lambda: self.filter.peek(peer.id, prefix), len(prefix))

    def filter_msg_bytes(self, channel_id: int, peer: BlocksyncPeer, msg_bytes: bytes) -> bool:
        """O(1) checks before decoding; False drops the message. Hostile input stops (and bans) the peer."""
        return self._judge(peer, lambda: self.filter.check(channel_id, peer.id, msg_bytes), len(msg_bytes))

    def _judge(self, peer: BlocksyncPeer, verdict_of: Callable[[], Verdict], size: int) -> bool:
        try:
            verdict = verdict_of()
        except FilterRejected as err:
            self._reject(peer, err)
            return False
        if verdict is Verdict.DROP:
            self.rejections.drop(peer.id, "unsolicited", f"BlockResponse not asked of it ({size} bytes seen)")
        elif verdict is Verdict.LATE:
            self.rejections.drop(peer.id, "late", "answer to a request already served by another peer")
        return verdict is Verdict.DELIVER

    def receive(self, channel_id: int, peer: BlocksyncPeer, msg_bytes: bytes) -> None:
        if len(msg_bytes) >= THREAD_DECODE_BYTES and self._decoder is not None:
            self._decode_in_worker(peer, msg_bytes)
            return
        try:
            message = decode(msg_bytes)
            parsed = _parse_block(message) if isinstance(message, BlockResponse) else None
        except MessageDecodeError as err:
            self._reject(peer, FilterRejected(f"invalid blocksync message: {err}", "malformed"))
            return
        self._dispatch(peer, message, parsed)

    @property
    def rejections(self) -> RejectionLog:
        """The switch's log and counters of rejected peer input (our own without a switch)."""
        return self.switch.rejections if self.switch is not None else self._rejections

    def _decode_in_worker(self, peer: BlocksyncPeer, msg_bytes: bytes) -> None:
        """Big messages decode on one worker thread, so the reactor thread never waits for them."""
        assert self._decoder is not None
        future = self._decoder.submit(_decode_and_parse, msg_bytes)

        def done(_: object) -> None:
            self._relay(lambda: self._decoded(peer, future.result()))

        future.add_done_callback(done)

    def _decoded(self, peer: BlocksyncPeer, outcome: _Decoded | MessageDecodeError) -> None:
        if self._peers.get(peer.id) is not peer:
            return  # it left while we decoded
        if isinstance(outcome, MessageDecodeError):
            self._reject(peer, FilterRejected(f"invalid blocksync message: {outcome}", "malformed"))
            return
        self._dispatch(peer, outcome.message, outcome.parsed)

    # ------------------------------------------------------------------ messages

    def _dispatch(self, peer: BlocksyncPeer, message: BlocksyncMessage, parsed: _ParsedBlock | None) -> None:
        if isinstance(message, BlockRequest):
            self._serve_block(peer, message.height)
        elif parsed is not None:
            self._receive_block(peer, parsed)
        elif isinstance(message, StatusRequest):
            peer.try_send(BLOCKSYNC_CHANNEL, encode(self._status()))
        elif isinstance(message, StatusResponse):
            if self.pool.is_running:
                self._pool_call(lambda: self.pool.set_peer_range(peer.id, message.base, message.height))
        elif isinstance(message, NoBlockResponse) and self.pool.is_running:
            self._pool_call(lambda: self.pool.redo_request_from(message.height, peer.id))

    def _serve_block(self, peer: BlocksyncPeer, height: int) -> None:
        """Stored bytes go out as they are; with extensions on at `height` the extended commit is required.

        A peer whose send queue is full (it asks faster than it reads) is not served: no store read; one
        that keeps asking while it reads nothing is a request flood, banned past REQUEST_BACKLOG_BUDGET."""
        if not peer.can_send(BLOCKSYNC_CHANNEL):
            dropped = self._backlog_drops[peer.id] = self._backlog_drops.get(peer.id, 0) + 1
            if dropped > REQUEST_BACKLOG_BUDGET:
                reason = f"{dropped} BlockRequests while its send queue stayed full (it does not read)"
                self._reject(peer, FilterRejected(reason, "request_flood"))
                return
            self.rejections.drop(
                peer.id, "request_backlog", f"BlockRequest {height} while its send queue is full"
            )
            return
        self._backlog_drops.pop(peer.id, None)
        try:
            block_bytes = self.store.load_block_bytes(height)
            ext_bytes = None
            if block_bytes is not None and self.state.consensus_params.vote_extensions_enabled(height):
                ext_bytes = self.store.load_extended_commit_bytes(height)
                if ext_bytes is None:
                    log.error("not serving block %d to %s: its extended commit is missing", height, peer.id)
                    return
        except StoreError:  # typed, counted and logged once by the store; the peer just gets no block
            block_bytes = None
        if block_bytes is None:
            peer.try_send(BLOCKSYNC_CHANNEL, encode(NoBlockResponse(height)))
            return
        peer.try_send(BLOCKSYNC_CHANNEL, encode_block_response(block_bytes, ext_bytes))

    def _receive_block(self, peer: BlocksyncPeer, parsed: _ParsedBlock) -> None:
        self.filter.release(peer.id, parsed.height)
        if not self.pool.is_running:
            log.debug("dropping block from %s: blocksync is over", peer.id)
            return
        if parsed.error is not None:  # no honest node stores a block failing ValidateBasic
            self._reject(
                peer, FilterRejected(f"invalid block {parsed.height}: {parsed.error}", "invalid_block")
            )
            return
        assert parsed.block is not None
        block, ext_commit = parsed.block, parsed.ext_commit
        outcome = self._pool_call(lambda: self.pool.add_block(peer.id, block, ext_commit, parsed.size))
        if outcome is AddBlockOutcome.ACCEPTED:
            self.ahead.block_arrived(block, ext_commit)
            self.loop.poke()

    def _status(self) -> StatusResponse:
        return StatusResponse(height=self.store.height, base=self.store.base)

    def broadcast_status_request(self) -> None:
        request = encode(StatusRequest())
        for peer in list(self._peers.values()):
            peer.try_send(BLOCKSYNC_CHANNEL, request)

    # ------------------------------------------------------------------ pool actions and time

    def _pool_call(self, call: Callable[[], ResultT]) -> ResultT:
        """The one way into a pool method that may act: call it, perform its actions, re-arm its timer."""
        result = call()
        for action in self.pool.drain_actions():
            self._perform(action)
        self._arm_tick()
        return result

    def _perform(self, action: Action) -> None:
        match action:
            case SendRequest(peer_id=peer_id, height=height):
                peer = self._peers.get(peer_id)
                if peer is not None:
                    self.filter.requested(peer_id, height)
                    peer.try_send(BLOCKSYNC_CHANNEL, encode(BlockRequest(height)))
            case RequestStatus(peer_id=peer_id):
                peer = self._peers.get(peer_id)
                if peer is not None:
                    peer.try_send(BLOCKSYNC_CHANNEL, encode(StatusRequest()))
            case PeerError(peer_id=peer_id, reason=reason):
                peer = self._peers.get(peer_id)
                if peer is not None:
                    self._stop_peer(peer, reason)
            case PeerBanned(peer_id=peer_id, reason=reason, until=until, disconnect=disconnect):
                log.info("pool banned %s: %s", peer_id, reason)
                self.metrics.peer_bans += 1
                if disconnect:
                    self._ban_peer(peer_id, until - self._clock.seconds(), reason)
            case _:
                assert_never(action)

    def _arm_tick(self) -> None:
        cancel_call(self._tick_call)
        self._tick_call = None
        deadline = self.pool.next_deadline()
        if deadline is not None:
            self._tick_call = self._clock.callLater(max(0.0, deadline - self._clock.seconds()), self._tick)

    def _tick(self) -> None:
        self._tick_call = None
        self._pool_call(self.pool.tick)

    def _verdict_ready(self) -> None:
        self._relay(self.loop.poke)

    # ------------------------------------------------------------------ peers

    def _stop_peer(self, peer: BlocksyncPeer, reason: str) -> None:
        if self.switch is not None:
            self.switch.stop_peer_for_error(peer, reason)  # type: ignore[arg-type]
        else:
            peer.close(reason)

    def _ban_peer(self, peer_id: str, seconds: float, reason: str) -> None:
        """A peer whose block failed verification is kept out of the switch too (no redial)."""
        if self.switch is not None:
            self.switch.ban(peer_id, seconds, reason)
        else:
            peer = self._peers.get(peer_id)
            if peer is not None:
                peer.close(reason)

    def _reject(self, peer: BlocksyncPeer, err: FilterRejected) -> None:
        """Hostile input: one rate-limited line, a counter, and the peer stopped (banned when `err.ban`)."""
        self.filter.forget(peer.id)
        if err.ban:
            seconds = self.config.pool.ban_seconds
            self.metrics.peer_bans += 1
            self.rejections.ban(peer.id, err.kind, seconds, err.reason)
            self._ban_peer(peer.id, seconds, err.reason)
        else:
            self.rejections.close(peer.id, err.kind, err.reason)
            self._stop_peer(peer, err.reason)

    # ------------------------------------------------------------------ switching to consensus

    def check_switch_to_consensus(self) -> None:
        """CometBFT's 1 s check: caught up (pool incl. SyncTracker) or our own power blocks the chain."""
        if self._phase is not Phase.SYNCING:
            return
        state = self.state
        if self._missing_extended_commit(state):
            log.info("no extended commit for height %d yet; staying in blocksync", state.last_block_height)
            return
        caught_up = self.pool.is_caught_up()
        if caught_up:
            self._switch(caught_up.reason, self.loop.blocks_synced)
        elif self._local_node_blocks_the_chain(state):
            self._switch("our validator holds >= 1/3 of the voting power", self.loop.blocks_synced)

    def _missing_extended_commit(self, state: StateT) -> bool:
        """Consensus needs the extended commit of the last block when extensions were on at its height."""
        height = state.last_block_height
        if height == 0 or not state.consensus_params.vote_extensions_enabled(height):
            return False
        if self.loop.blocks_synced > 0:
            return False
        return self.store.load_extended_commit_bytes(height) is None

    def _local_node_blocks_the_chain(self, state: ChainStateView) -> bool:
        if self._local_address is None:
            return False
        found = state.validators.get_by_address(self._local_address)
        if found is None:
            return False
        return found[1].voting_power >= state.validators.total_voting_power() // 3

    def _only_validator_is_us(self) -> bool:
        validators = self.state.validators.validators
        return (
            self._local_address is not None
            and len(validators) == 1
            and validators[0].address == self._local_address
        )

    def _switch(self, reason: str, blocks_synced: int) -> None:
        """Stop requesting; late BlockResponses are dropped quietly from now on; hand the state over."""
        if self.loop.applying:
            return
        log.info("switching to consensus at height %d: %s", self.state.last_block_height, reason)
        following = self._phase is Phase.SYNCING and self._phase_after_switch is Phase.FOLLOWING
        self._enter(Phase.FOLLOWING if following else Phase.SWITCHED)
        self._handoff.switch_to_consensus(self.state, blocks_synced)

    def _block_applied(self, verified: VerifiedBlock, state: StateT) -> None:
        block = verified.block
        self.metrics.record_block(block.height, len(block.txs), block.size())

    def _sync_failed(self, failure: Failure) -> None:
        """The block after the state's last one could not be saved or applied: FAILED, for good."""
        if self._phase is Phase.STOPPED:  # shutdown closed the app under a block: the restart replays it
            log.warning(
                "block %d was not applied before shutdown: %s",
                self.state.last_block_height + 1,
                failure.getErrorMessage(),
            )
            return
        self._failure = SyncFailure(self.state.last_block_height + 1, failure.getErrorMessage())
        log.error("%s", self._failure)
        self._enter(Phase.FAILED)
        self.failed.callback(self._failure)


def _call_now(action: Callable[[], None]) -> None:
    action()


@dataclass(frozen=True)
class _ParsedBlock:
    """A BlockResponse turned into types (or why it could not be), with its wire size for the pool."""

    height: int
    size: int
    block: Block | None = None
    ext_commit: ExtendedCommit | None = None
    error: str | None = None


@dataclass(frozen=True)
class _Decoded:
    message: BlocksyncMessage
    parsed: _ParsedBlock | None


def _parse_block(message: BlockResponse) -> _ParsedBlock:
    """Types and `ValidateBasic` for a received block: the costly half of receiving it."""
    height, size = message.block.header.height, len(message.block_bytes)
    try:
        block = Block.from_parsed(message.block, message.block_bytes)
        block.validate_basic()
        ext_commit = None
        if message.ext_commit is not None:
            ext_commit = ExtendedCommit.from_proto(message.ext_commit)
            ext_commit.validate_basic()
    except (ValueError, TypeError, OverflowError, IndexError) as err:
        return _ParsedBlock(height, size, error=f"{type(err).__name__}: {err}")
    return _ParsedBlock(height, size, block, ext_commit)


def _decode_and_parse(msg_bytes: bytes) -> _Decoded | MessageDecodeError:
    """The worker thread's job: never raises for peer input, so the outcome always reaches the reactor."""
    try:
        message = decode(msg_bytes)
    except MessageDecodeError as err:
        return err
    return _Decoded(message, _parse_block(message) if isinstance(message, BlockResponse) else None)
