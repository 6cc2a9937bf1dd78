"""BlockExecutor: validate → FinalizeBlock → check → save response and state → Commit.

Go saves the FinalizeBlock response before Commit and the state after it (two synced writes); we write
both in one synced batch before Commit. A crash before Commit then leaves the state one block ahead of
the app, which the handshake (ours and Go's) recovers by replaying that block into the app only, so no
block is executed twice and the home stays readable by CometBFT.

A syncing node hands each block's staged write to `execute_verified_block`, which queues it on the writer
thread at once: it runs beside Commit h-1 and FinalizeBlock h, and state h is written only after it. The
state write itself runs on the reactor thread: Commit h waits for it, and two GIL hand-offs to and from a
writer thread cost more than the write (docs/benchmarks.md). The extra crash state (store = state + 1 =
app + 2) is Go's "app further behind" replay case. An app that answers in order (the socket protocol)
gets FinalizeBlock h right behind Commit h-1: it still runs after that Commit, and the app commits h only
once state h is on disk, so the crash states are the same.
"""

from __future__ import annotations

from twisted.internet import defer
from twisted.python.failure import Failure

from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.state.app_conn import ConsensusApp
from cometsync.state.state import State
from cometsync.state.store import StateStore
from cometsync.state.transition import check_finalize_response, finalize_block_request, next_state
from cometsync.state.validation import validate_block
from cometsync.store import BlockStore
from cometsync.store.blocking import InlineWrites, RunBlocking
from cometsync.store.crashpoints import crash_point
from cometsync.store.db import PendingWrite
from cometsync.types import Block, BlockID, ValidatorSet


class BlockExecutor:
    """Applies blocks to the app and the stores; `apply_block` resolves to the new State."""

    def __init__(
        self,
        state_store: StateStore,
        block_store: BlockStore,
        app: ConsensusApp,
        run_blocking: RunBlocking | None = None,
        *,
        pipeline_commit: bool = False,
    ) -> None:
        """`run_blocking` runs the block writes and prunes, in order (pass `run_in_thread(reactor)` to keep
        the reactor thread free while LevelDB syncs a block; the default writes inline).
        `pipeline_commit`: the app answers in order (`answers_in_order`), so FinalizeBlock h is sent right
        behind Commit h-1 instead of after its answer, saving a round trip through a busy reactor."""
        self._state_store = state_store
        self._block_store = block_store
        self._app = app
        self._run_blocking = run_blocking or InlineWrites()
        self._pipeline_commit = pipeline_commit
        self._commits_in_flight = 0
        self._commit_failure: Failure | None = None
        self._settle_waiters: list[defer.Deferred[None]] = []

    def validate_block(self, state: State, block: Block, skip_last_commit: bool = False) -> None:
        validate_block(state, block, skip_last_commit)

    def apply_block(self, state: State, block_id: BlockID, block: Block) -> defer.Deferred[State]:
        """Full `validate_block` (incl. LastCommit signatures), then `apply_verified_block`."""
        try:
            validate_block(state, block)
        except Exception as exc:
            return defer.fail(exc)
        return self.apply_verified_block(state, block_id, block)

    def apply_verified_block(self, state: State, block_id: BlockID, block: Block) -> defer.Deferred[State]:
        """Execute a block the caller already validated, through the app's Commit."""
        return defer.ensureDeferred(self._apply_and_settle(state, block_id, block))

    def execute_verified_block(
        self, state: State, block_id: BlockID, block: Block, block_write: PendingWrite | None = None
    ) -> defer.Deferred[State]:
        """Execute a validated block; fires with the saved new state while the app's Commit is still in
        flight (`settled` says when it returned). `block_write`, the block's own staged batch, is queued
        at once, so it runs beside the previous Commit and this FinalizeBlock; the state waits for it."""
        block_written = None if block_write is None else self._run_blocking(block_write.write)
        if block_written is not None:
            block_written.addCallback(self._block_written)
        return defer.ensureDeferred(self._execute(state, block_id, block, block_written))

    def settled(self) -> defer.Deferred[None]:
        """Fires once no Commit is in flight; fails, now and for good, if a Commit failed."""
        if self._commit_failure is not None:
            return defer.fail(self._commit_failure)
        if not self._commits_in_flight:
            return defer.succeed(None)
        waiter: defer.Deferred[None] = defer.Deferred()
        self._settle_waiters.append(waiter)
        return waiter

    async def _apply_and_settle(self, state: State, block_id: BlockID, block: Block) -> State:
        new_state = await self._execute(state, block_id, block)
        await self.settled()
        return new_state

    async def _execute(
        self,
        state: State,
        block_id: BlockID,
        block: Block,
        block_written: defer.Deferred[None] | None = None,
    ) -> State:
        try:
            if self._pipeline_commit:
                self._raise_commit_failure()  # Commit h-1 may be in flight: the app answers it first
            else:
                await self.settled()
            request = finalize_block_request(block, state.last_validators, state.initial_height)
            crash_point("executor.before_finalize_block")
            response = await self._app.finalize_block(request)
            crash_point("executor.after_finalize_block")
            self._raise_commit_failure()
            check_finalize_response(block, response)
            new_state = next_state(state, block_id, block.header, response)
            pending = self._state_store.stage_save(new_state, response)
            if block_written is not None:
                await block_written
            pending.write()  # on this thread: Commit waits for it, and a thread hand-off costs more
            crash_point("executor.after_save_state")
        except BaseException:
            if block_written is not None:  # this failure is the one to report, not the write's
                block_written.addErrback(lambda _: None)
            raise
        self._commits_in_flight += 1
        defer.ensureDeferred(self._commit()).addBoth(self._commit_returned)
        return new_state

    def _raise_commit_failure(self) -> None:
        if self._commit_failure is not None:
            self._commit_failure.raiseException()

    @staticmethod
    def _block_written(_: None) -> None:
        crash_point("executor.block_written")  # store = state + 1; the app at state, or one behind mid-Commit

    async def _commit(self) -> None:
        committed = await self._app.commit(abci_pb2.RequestCommit())
        crash_point("executor.after_commit")
        retain_height = committed.retain_height
        if retain_height > self._block_store.base > 0:
            await self._run_blocking(lambda: self._prune(retain_height))  # behind the block writes

    def _commit_returned(self, result: Failure | None) -> None:
        self._commits_in_flight -= 1
        if isinstance(result, Failure):
            self._commit_failure = self._commit_failure or result
        elif self._commits_in_flight:
            return  # a pipelined Commit is still in flight: waiters hear once the last one returns
        waiters, self._settle_waiters = self._settle_waiters, []
        for waiter in waiters:
            if isinstance(result, Failure):
                waiter.errback(result)
            else:
                waiter.callback(None)

    def _prune(self, retain_height: int) -> None:
        """Honour the app's `retain_height` (block store only), as Go's `pruneBlocks`; queued behind the
        writes before it, so it sees the store's height and base as they are on disk."""
        store = self._block_store
        if retain_height > store.base:
            store.prune_blocks(min(retain_height, store.height))


async def exec_commit_block(
    app: ConsensusApp, block: Block, state_store: StateStore, initial_height: int
) -> bytes:
    """Go's `ExecCommitBlock` for replay: FinalizeBlock + Commit, no state change; returns the app hash."""
    last_validators = (
        state_store.load_validators(block.height - 1) if block.height > initial_height else ValidatorSet([])
    )
    response = await app.finalize_block(finalize_block_request(block, last_validators, initial_height))
    check_finalize_response(block, response)
    await app.commit(abci_pb2.RequestCommit())
    return bytes(response.app_hash)
