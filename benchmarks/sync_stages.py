"""Where a syncing node's time goes, stage by stage, timed from the node's side for `sync_bench.py`.

The sync loop's `on_stage` hook marks when a step holds both blocks and when the pair is verified; thin
wrappers time the block's encoding and write, the app's FinalizeBlock and Commit, and the state write. The
loop's time per block splits into: wait for block, verify, block encoding, wait for the previous block's
Commit, FinalizeBlock and the rest of execution (request building, next_state, the state's encoding and
synced write, Deferred plumbing). The block write (on the writer thread) and the app's Commit overlap
those steps, and the state write is part of the last one, so all three are reported apart.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import Any, TypeVar, cast

from twisted.internet import defer

from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.state import BlockExecutor, State
from cometsync.store import BlockStore
from cometsync.store.db import PendingWrite
from cometsync.types import Block, BlockID, Commit, ExtendedCommit, PartSet

T = TypeVar("T")


@dataclass
class LoopTimes:
    """Seconds per step of the loop, summed over the counted blocks: together they make its wall time."""

    wait_for_block: float = 0.0
    verify: float = 0.0
    encode_block: float = 0.0
    wait_for_previous_block: float = 0.0
    finalize_block: float = 0.0
    execute_other: float = 0.0


@dataclass
class BesideTimes:
    """Seconds of the work timed apart from the loop's steps: the block write (on the writer thread, beside
    them), the state write (inside "execute other") and the app's Commit (beside them)."""

    block_write: float = 0.0
    state_write: float = 0.0
    app_commit: float = 0.0


def per_block_rows(times: LoopTimes | BesideTimes, blocks: int) -> list[tuple[str, float]]:
    """(stage, milliseconds per block)."""
    names = [item.name for item in fields(times)]
    return [(name.replace("_", " "), getattr(times, name) * 1000 / blocks) for name in names]


class StageClock:
    """Adds up stage times over the sync (the first block's wait and verdict are start-up, not counted)."""

    def __init__(self) -> None:
        self.loop = LoopTimes()
        self.beside = BesideTimes()
        self.blocks = 0
        self.first_apply: float | None = None
        self.last_applied = 0.0
        self._free_at: float | None = None
        self._blocks_at: float | None = None
        self._waiting_since: float | None = None
        self._waited = 0.0
        self._finalizing = 0.0

    def on_stage(self, stage: str) -> None:
        now = time.perf_counter()
        if stage == "blocks" and self._blocks_at is None:
            self._blocks_at = now
        elif stage == "verified" and self._blocks_at is not None:
            if self._free_at is not None:  # not the first block, whose wait and verdict are the start-up
                self.loop.wait_for_block += max(0.0, self._blocks_at - self._free_at)
                self.loop.verify += now - self._blocks_at
            self._blocks_at = None

    def timed(
        self, times: LoopTimes | BesideTimes, stage: str, result: defer.Deferred[T]
    ) -> defer.Deferred[T]:
        """Add the time from now until `result` fires to `stage`."""
        began = time.perf_counter()

        def done(value: T) -> T:
            add(times, stage, time.perf_counter() - began)
            return value

        return result.addCallback(done)

    def execute_started(self) -> float:
        now = time.perf_counter()
        if self.first_apply is None:
            self.first_apply = now
        self._waiting_since = now
        self._waited = self._finalizing = 0.0
        return now

    def finalize_started(self) -> float:
        """FinalizeBlock is sent: the wait for the previous block's Commit is over."""
        now = time.perf_counter()
        if self._waiting_since is not None:
            self._waited = now - self._waiting_since
            self._waiting_since = None
        return now

    def finalized(self, began: float) -> None:
        self._finalizing = time.perf_counter() - began

    def executed(self, began: float) -> None:
        """The block's new state is saved: the loop is free to take the next block."""
        now = time.perf_counter()
        self.loop.wait_for_previous_block += self._waited
        self.loop.finalize_block += self._finalizing
        self.loop.execute_other += now - began - self._waited - self._finalizing
        self.blocks += 1
        self._free_at = now
        self.last_applied = now


def add(times: LoopTimes | BesideTimes, stage: str, seconds: float) -> None:
    setattr(times, stage, getattr(times, stage) + seconds)


class _TimedWrite:
    """A staged batch whose write (on whichever thread runs it) is added to a stage."""

    def __init__(self, pending: PendingWrite, times: BesideTimes, stage: str) -> None:
        self._pending = pending
        self._times = times
        self._stage = stage

    def write(self) -> None:
        began = time.perf_counter()
        self._pending.write()
        add(self._times, self._stage, time.perf_counter() - began)


class TimedStore:
    """The node's BlockStore with each block's encoding (on the loop) and write (beside it) timed."""

    def __init__(self, store: BlockStore, clock: StageClock) -> None:
        self._store = store
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def stage_block(
        self, block: Block, part_set: PartSet, seen_commit: Commit, ext_commit: ExtendedCommit | None = None
    ) -> PendingWrite:
        began = time.perf_counter()
        pending = self._store.stage_block(block, part_set, seen_commit, ext_commit)
        add(self._clock.loop, "encode_block", time.perf_counter() - began)
        return cast(PendingWrite, _TimedWrite(pending, self._clock.beside, "block_write"))


class TimedStateStore:
    """The node's StateStore with the write of every apply (response and state, one batch) timed."""

    def __init__(self, store: Any, clock: StageClock) -> None:
        self._store = store
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def stage_save(
        self, state: State, finalize_response: abci_pb2.ResponseFinalizeBlock | None = None
    ) -> PendingWrite:
        pending = self._store.stage_save(state, finalize_response)
        return cast(PendingWrite, _TimedWrite(pending, self._clock.beside, "state_write"))


class TimedApp:
    """The node's ABCI consensus connection with FinalizeBlock and Commit timed to their answers."""

    def __init__(self, app: Any, clock: StageClock) -> None:
        self._app = app
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)

    def finalize_block(
        self, request: abci_pb2.RequestFinalizeBlock
    ) -> defer.Deferred[abci_pb2.ResponseFinalizeBlock]:
        began = self._clock.finalize_started()

        def answered(response: abci_pb2.ResponseFinalizeBlock) -> abci_pb2.ResponseFinalizeBlock:
            self._clock.finalized(began)
            return response

        return self._app.finalize_block(request).addCallback(answered)

    def commit(self, request: abci_pb2.RequestCommit) -> defer.Deferred[abci_pb2.ResponseCommit]:
        return self._clock.timed(self._clock.beside, "app_commit", self._app.commit(request))


class TimedExecutor:
    """The node's BlockExecutor, telling the clock when each execution starts and ends."""

    def __init__(self, executor: BlockExecutor, clock: StageClock) -> None:
        self._executor = executor
        self._clock = clock

    def validate_block(self, state: State, block: Block, skip_last_commit: bool = False) -> None:
        self._executor.validate_block(state, block, skip_last_commit)

    def execute_verified_block(
        self, state: State, block_id: BlockID, block: Block, block_write: PendingWrite | None = None
    ) -> defer.Deferred[State]:
        began = self._clock.execute_started()

        def executed(new_state: State) -> State:
            self._clock.executed(began)
            return new_state

        return self._executor.execute_verified_block(state, block_id, block, block_write).addCallback(
            executed
        )

    def settled(self) -> defer.Deferred[None]:
        return self._executor.settled()
