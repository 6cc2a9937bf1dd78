"""The p2p-facing blocksync reactor on channel 0x40: serves blocks and statuses, feeds the pool, hands off.

Twisted glue around sans-IO parts: the pool decides what to request and whom to drop, the sync loop
verifies and applies, the filter and codec check bytes. Everything runs on the reactor thread; only the
verify-ahead executor may complete elsewhere (bridged with `call_from_thread`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
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
)
from cometsync.blocksync.handoff import ConsensusHandoff
from cometsync.blocksync.metrics import SyncMetrics
from cometsync.blocksync.msg_filter import MsgBytesFilter
from cometsync.blocksync.phase import FILTER_STATES, NEXT_PHASES, POOL_RUNS, Phase, SyncFailure
from cometsync.blocksync.ports import BlockApplier, BlockWriter, ChainStateView, StateT
from cometsync.blocksync.sync_loop import SyncLoop
from cometsync.blocksync.verify import VerifiedBlock
from cometsync.blocksync.verify_ahead import InlineExecutor, VerifyAhead
from cometsync.clock import Clock, DelayedCall, Periodic, cancel_call
from cometsync.p2p.channel import ChannelDescriptor
from cometsync.p2p.reactor import Reactor
from cometsync.pool import Action, BlockPool, PeerBanned, PeerError, PoolConfig, RequestStatus, SendRequest
from cometsync.pool.pool import AddBlockOutcome
from cometsync.store.errors import StoreError
from cometsync.types import Block, ExtendedCommit

log = logging.getLogger(__name__)

ResultT = TypeVar("ResultT")

BLOCKSYNC_CHANNEL_DESCRIPTOR = ChannelDescriptor(
    id=BLOCKSYNC_CHANNEL,
    priority=CHANNEL_PRIORITY,
    send_queue_capacity=SEND_QUEUE_CAPACITY,
    recv_buffer_capacity=RECV_BUFFER_CAPACITY,
    recv_message_capacity=MAX_MSG_SIZE,
)


class BlocksyncPeer(Protocol):
    """What the reactor uses of a `p2p.Peer`."""

    @property
    def id(self) -> str: ...

    def send(self, channel_id: int, msg_bytes: bytes) -> bool: ...

    def try_send(self, channel_id: int, msg_bytes: bytes) -> bool: ...

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
        `call_from_thread` when it completes jobs in other threads."""
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
        start_height = max(state.last_block_height + 1, state.initial_height)
        self.pool: BlockPool[Block, ExtendedCommit] = BlockPool(start_height, clock, self.config.pool)
        self.filter = MsgBytesFilter(self.pool.has_pending_request_from)
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
        return [BLOCKSYNC_CHANNEL_DESCRIPTOR]

    def add_peer(self, peer: BlocksyncPeer) -> None:
        """Tell a new peer our range; it enters the pool once its own StatusResponse arrives."""
        self._peers[peer.id] = peer
        peer.send(BLOCKSYNC_CHANNEL, encode(self._status()))

    def remove_peer(self, peer: BlocksyncPeer, reason: str) -> None:
        if self._peers.get(peer.id) is peer:
            del self._peers[peer.id]
        if self.pool.is_running:
            self._pool_call(lambda: self.pool.remove_peer(peer.id))

    def filter_msg_bytes(self, channel_id: int, peer: BlocksyncPeer, msg_bytes: bytes) -> None:
        """Raises FilterRejected (which stops the peer) for oversized or unsolicited BlockResponses."""
        self.filter.check(channel_id, peer.id, msg_bytes)

    def receive(self, channel_id: int, peer: BlocksyncPeer, msg_bytes: bytes) -> None:
        try:
            message = decode(msg_bytes)
        except MessageDecodeError as err:
            self._stop_peer(peer, f"invalid blocksync message: {err}")
            return
        self._dispatch(peer, message)

    # ------------------------------------------------------------------ messages

    def _dispatch(self, peer: BlocksyncPeer, message: BlocksyncMessage) -> None:
        if isinstance(message, BlockRequest):
            self._serve_block(peer, message.height)
        elif isinstance(message, BlockResponse):
            self._receive_block(peer, message)
        elif isinstance(message, StatusRequest):
            peer.try_send(BLOCKSYNC_CHANNEL, encode(self._status()))
        elif isinstance(message, StatusResponse):
            if self.pool.is_running:
                self._pool_call(lambda: self.pool.set_peer_range(peer.id, message.base, message.height))
        elif isinstance(message, NoBlockResponse) and self.pool.is_running:
            self._pool_call(lambda: self.pool.redo_request_from(message.height, peer.id))

    def _serve_block(self, peer: BlocksyncPeer, height: int) -> None:
        """Stored bytes go out as they are; with extensions on at `height` the extended commit is required."""
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

    def _receive_block(self, peer: BlocksyncPeer, message: BlockResponse) -> None:
        if not self.pool.is_running:
            log.debug("dropping block from %s: blocksync is over", peer.id)
            return
        try:
            block = Block.from_parsed(message.block, message.block_bytes)
            block.validate_basic()
            ext_commit = None
            if message.ext_commit is not None:
                ext_commit = ExtendedCommit.from_proto(message.ext_commit)
                ext_commit.validate_basic()
        except ValueError as err:
            self._stop_peer(peer, f"invalid block: {err}")
            return
        size = len(message.block_bytes)
        outcome = self._pool_call(lambda: self.pool.add_block(peer.id, block, ext_commit, size))
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
            self.switch.ban(peer_id, seconds)
        else:
            peer = self._peers.get(peer_id)
            if peer is not None:
                peer.close(reason)

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
        self._failure = SyncFailure(self.state.last_block_height + 1, failure.getErrorMessage())
        log.error("%s", self._failure)
        self._enter(Phase.FAILED)
        self.failed.callback(self._failure)


def _call_now(action: Callable[[], None]) -> None:
    action()
