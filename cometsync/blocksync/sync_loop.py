"""The blocksync loop: verify block h with h+1, pop it, save it, apply it — strictly in height order.

A small state machine on the reactor's clock: `poke()` schedules one step (`callLater(0)`, so a block's
arrival is processed at once without recursing); a step either waits (missing block, verdict still
computing, block being executed) or verifies block h+1, stages its write and hands both to the executor,
which orders the rest: the block's write starts at once on the writer thread, beside Commit h;
FinalizeBlock h+1 follows Commit h (sent behind it to an app that answers in order, else after its
answer), and state h+1 is written after the block. The executor returns once that state is saved, with
Commit h+1 in flight: the next step then verifies block h+2.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from twisted.internet import defer
from twisted.python.failure import Failure

from cometsync.blocksync.metrics import SyncMetrics
from cometsync.blocksync.ports import BlockApplier, BlockWriter, StateT
from cometsync.blocksync.verify import PairVerificationError, VerifiedBlock, verify_pair
from cometsync.blocksync.verify_ahead import VerifyAhead
from cometsync.clock import Clock, DelayedCall, cancel_call
from cometsync.pool import BlockPool
from cometsync.types import Block, ExtendedCommit

log = logging.getLogger(__name__)

NANOS_PER_SECOND = 1_000_000_000

ResultT = TypeVar("ResultT")


class PoolCall(Protocol):
    """Runs a pool method, then performs the actions it queued (the reactor's one drain-after-call path)."""

    def __call__(self, call: Callable[[], ResultT]) -> ResultT: ...


class SyncLoop(Generic[StateT]):
    """Drives pool -> verify_pair -> store -> executor -> pool.pop_request for one node.

    `pool_call` runs a pool method and has the owner act on the actions it queued (requests, bans);
    `on_applied` sees every applied block; `metrics` gets verify and apply times (on `clock`);
    `on_fatal` gets an apply/store failure, after which the loop stops (CometBFT panics: the local state
    can no longer follow the chain) and the owner reports it.
    """

    def __init__(
        self,
        state: StateT,
        pool: BlockPool[Block, ExtendedCommit],
        store: BlockWriter,
        executor: BlockApplier[StateT],
        ahead: VerifyAhead,
        clock: Clock,
        metrics: SyncMetrics,
        *,
        pool_call: PoolCall,
        on_applied: Callable[[VerifiedBlock, StateT], None],
        on_fatal: Callable[[Failure], None],
    ) -> None:
        self.state = state
        self.blocks_synced = 0
        self._pool = pool
        self._store = store
        self._executor = executor
        self._ahead = ahead
        self._clock = clock
        self._metrics = metrics
        self._pool_call = pool_call
        self._on_applied = on_applied
        self._on_fatal = on_fatal
        self._call: DelayedCall | None = None
        self._applying = False
        self._committing = False
        self._stepping = False
        self._apply_started = 0.0
        self._stopped = False
        self._failed = False
        self._idle_waiters: list[defer.Deferred[None]] = []
        self.on_stage: Callable[[str], None] | None = None
        """Timing hook (benchmarks): "blocks" when a step holds both blocks, "verified" before applying."""

    @property
    def applying(self) -> bool:
        """A block is being saved, executed or committed."""
        return self._committing or self._applying

    def idle(self) -> defer.Deferred[None]:
        """Fires once no block is being applied (at once if none is): a shutdown waits for the commit."""
        if not self.applying:
            return defer.succeed(None)
        waiter: defer.Deferred[None] = defer.Deferred()
        self._idle_waiters.append(waiter)
        return waiter

    def _notify_idle(self) -> None:
        if self.applying:
            return
        waiters, self._idle_waiters = self._idle_waiters, []
        for waiter in waiters:
            waiter.callback(None)

    def poke(self) -> None:
        """Something changed (block arrived, verdict ready, block applied): try a step soon."""
        if self._stopped or self._call is not None or self._applying:
            return
        self._call = self._clock.callLater(0, self._step)

    def stop(self) -> None:
        """Stop stepping; a block being applied still completes (its state is kept)."""
        self._stopped = True
        cancel_call(self._call)
        self._call = None

    def _step(self) -> None:
        cancel_call(self._call)
        self._call = None
        if self._stopped or self._applying:  # a poke may have queued a step meanwhile
            return
        self._stepping = True
        try:
            self._try_next()
        finally:
            self._stepping = False

    def _try_next(self) -> None:
        self._ahead.plan(self.state)
        first, second, ext_commit = self._pool.peek_two_blocks()
        if first is None or second is None:
            return
        if self.on_stage is not None:
            self.on_stage("blocks")
        verdict = self._ahead.verdict_for(self.state, second, ext_commit)
        if verdict is None:
            return
        state = self.state
        skip_last_commit = self.blocks_synced > 0
        started = self._clock.seconds()
        try:
            verified = verify_pair(
                state,
                first,
                second,
                ext_commit,
                verdict=verdict,
                validate_block=lambda block: self._executor.validate_block(state, block, skip_last_commit),
            )
        except PairVerificationError as err:
            self._punish(first.height, err)
            return
        finally:
            self._metrics.verify_seconds.observe(self._clock.seconds() - started)
        if self.on_stage is not None:
            self.on_stage("verified")
        self._apply(verified)

    def _punish(self, height: int, err: PairVerificationError) -> None:
        heights = err.culprit.heights(height)
        senders = self._pool_call(lambda: self._pool.punish_block_senders(heights, err.reason))
        log.warning("block %d failed verification (%s); punished %s", height, err.reason, senders)
        self.poke()

    def _apply(self, verified: VerifiedBlock) -> None:
        """Pop first, as CometBFT does: once verified the block is ours, whatever the pool hears next."""
        header_time = verified.block.header.time.unix_nanos() / NANOS_PER_SECOND
        self._pool_call(lambda: self._pool.pop_request(header_time))
        self._applying = True
        self._apply_started = self._clock.seconds()
        executed = defer.maybeDeferred(self._stage_and_execute, verified)
        executed.addCallbacks(self._executed, self._fail, callbackArgs=(verified,))

    def _stage_and_execute(self, verified: VerifiedBlock) -> defer.Deferred[StateT]:
        pending = self._store.stage_block(
            verified.block, verified.part_set, verified.seen_commit, verified.ext_commit
        )
        return self._executor.execute_verified_block(self.state, verified.block_id, verified.block, pending)

    def _executed(self, new_state: StateT, verified: VerifiedBlock) -> None:
        self._applying = False
        self._committing = True
        self._metrics.apply_seconds.observe(self._clock.seconds() - self._apply_started)
        self.state = new_state
        self.blocks_synced += 1
        self._on_applied(verified, new_state)
        self._executor.settled().addCallbacks(self._committed, self._fail)
        if self._stepping or self._stopped:
            self.poke()  # applied within the step (a synchronous app): no recursion
        else:
            self._step()  # at once: the next block's write may start only now, and a turn of the reactor
            # first would run whatever I/O is ready (a burst of blocks) before it

    def _committed(self, _: None) -> None:
        self._committing = False
        self.poke()
        self._notify_idle()

    def _fail(self, failure: Failure) -> None:
        self._applying = self._committing = False
        self.stop()
        if not self._failed:
            self._failed = True
            self._on_fatal(failure)
        self._notify_idle()
