"""BlockExecutor: validate → FinalizeBlock → check → save response and state → Commit.

Go saves the FinalizeBlock response before Commit and the state after it (two synced writes); we write
both in one synced batch before Commit. A crash before Commit then leaves the state one block ahead of
the app, which the handshake (ours and Go's) recovers by replaying that block into the app only, so no
block is executed twice and the home stays readable by CometBFT.

`execute_verified_block` returns once the state is saved and leaves the app's Commit in flight, so a
syncing node can verify and save the next block meanwhile; the next FinalizeBlock always waits for that
Commit. The extra crash state (store = state + 1 = app + 2) is Go's "app further behind" replay case.
Given `stored`, FinalizeBlock also runs while the block's own synced write is in flight; the state is
written only after it, so the disk still never holds a state ahead of its block (the app commits nothing
before that state is saved).
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
from cometsync.store.blocking import RunBlocking, run_inline
from cometsync.store.crashpoints import crash_point
from cometsync.types import Block, BlockID, ValidatorSet


class BlockExecutor:
    """Applies blocks to the app and the stores; `apply_block` resolves to the new State."""

    def __init__(
        self,
        state_store: StateStore,
        block_store: BlockStore,
        app: ConsensusApp,
        run_blocking: RunBlocking = run_inline,
    ) -> None:
        """`run_blocking` runs the synced state write (pass `run_in_thread(reactor)` to keep the reactor
        thread free while LevelDB syncs)."""
        self._state_store = state_store
        self._block_store = block_store
        self._app = app
        self._run_blocking = run_blocking
        self._committing = False
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
        self, state: State, block_id: BlockID, block: Block, stored: defer.Deferred[None] | None = None
    ) -> defer.Deferred[State]:
        """Execute a validated block; fires with the saved new state while the app's Commit is still in
        flight (`settled` says when it returned). `stored`, if given, fires once the block itself is
        durable: the state write waits for it."""
        return defer.ensureDeferred(self._execute(state, block_id, block, stored))

    def settled(self) -> defer.Deferred[None]:
        """Fires once no Commit is in flight; fails, now and for good, if a Commit failed."""
        if self._commit_failure is not None:
            return defer.fail(self._commit_failure)
        if not self._committing:
            return defer.succeed(None)
        waiter: defer.Deferred[None] = defer.Deferred()
        self._settle_waiters.append(waiter)
        return waiter

    async def _apply_and_settle(self, state: State, block_id: BlockID, block: Block) -> State:
        new_state = await self._execute(state, block_id, block)
        await self.settled()
        return new_state

    async def _execute(
        self, state: State, block_id: BlockID, block: Block, stored: defer.Deferred[None] | None = None
    ) -> State:
        await self.settled()
        request = finalize_block_request(block, state.last_validators, state.initial_height)
        crash_point("executor.before_finalize_block")
        response = await self._app.finalize_block(request)
        crash_point("executor.after_finalize_block")
        check_finalize_response(block, response)
        new_state = next_state(state, block_id, block.header, response)
        pending = self._state_store.stage_save(new_state, response)
        if stored is not None:
            await stored
        crash_point("executor.block_stored")
        await self._run_blocking(pending.write)
        crash_point("executor.after_save_state")
        self._committing = True
        defer.ensureDeferred(self._commit()).addBoth(self._commit_returned)
        return new_state

    async def _commit(self) -> None:
        committed = await self._app.commit(abci_pb2.RequestCommit())
        crash_point("executor.after_commit")
        self._prune(committed.retain_height)

    def _commit_returned(self, result: Failure | None) -> None:
        self._committing = False
        if isinstance(result, Failure):
            self._commit_failure = result
        waiters, self._settle_waiters = self._settle_waiters, []
        for waiter in waiters:
            if isinstance(result, Failure):
                waiter.errback(result)
            else:
                waiter.callback(None)

    def _prune(self, retain_height: int) -> None:
        """Honour the app's `retain_height` (block store only), as Go's `pruneBlocks`."""
        store = self._block_store
        if retain_height > store.base and store.base > 0:
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
