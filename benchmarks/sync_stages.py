"""Where a syncing node's time goes, stage by stage, timed from the node's side for `sync_bench.py`.

The sync loop's `on_stage` hook marks when a step holds both blocks and when the pair is verified; thin
wrappers time the block store write, the app's FinalizeBlock and Commit, and the state-store writes. The
loop's time per block splits into: wait for block, verify (the signature verdict from the workers plus the
checks on the loop), save, wait for the previous block's Commit, FinalizeBlock, state save and the rest of
execution (request building, next_state, Deferred plumbing). The app's Commit of block h runs beside
block h+1's wait, verify and save, so it is reported apart: it only costs what those do not cover.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
class StageTimes:
    """Seconds per stage of the loop, summed over the counted blocks."""

    wait_for_block: float = 0.0
    verify: float = 0.0
    save_block: float = 0.0
    wait_for_previous_commit: float = 0.0
    finalize_block: float = 0.0
    state_save: float = 0.0
    execute_other: float = 0.0

    def rows(self, blocks: int) -> list[tuple[str, float]]:
        """(stage, milliseconds per block)."""
        names = [item.name for item in fields(self)]
        return [(name.replace("_", " "), getattr(self, name) * 1000 / blocks) for name in names]


class StageClock:
    """Adds up stage times over the sync (the first block's wait and verdict are start-up, not counted)."""

    def __init__(self) -> None:
        self.totals = StageTimes()
        self.commit_seconds = 0.0
        """The app's Commit, which overlaps the next block's wait, verify and save."""
        self.blocks = 0
        self.first_apply: float | None = None
        self.last_applied = 0.0
        self._free_at: float | None = None
        self._blocks_at: float | None = None
        self._saved_at: float | None = None
        self._execute_waits_for_save = True
        self._execute_stages = 0.0

    def on_stage(self, stage: str) -> None:
        now = time.perf_counter()
        if stage == "verified":
            self._execute_waits_for_save = True  # this block's write starts now
        if stage == "blocks" and self._blocks_at is None:
            self._blocks_at = now
        elif stage == "verified" and self._blocks_at is not None:
            if self._free_at is not None:  # not the first block, whose wait and verdict are the start-up
                self.totals.wait_for_block += max(0.0, self._blocks_at - self._free_at)
                self.totals.verify += now - self._blocks_at
            self._blocks_at = None

    def timed(self, stage: str, result: defer.Deferred[T], began: float) -> defer.Deferred[T]:
        """Add the time from `began` until `result` fires to `stage`."""

        def done(value: T) -> T:
            self.add(stage, time.perf_counter() - began)
            return value

        return result.addCallback(done)

    def add(self, stage: str, seconds: float) -> None:
        if stage == "commit":
            self.commit_seconds += seconds
            return
        if stage == "save_block":
            if self._execute_waits_for_save:  # not already executing beside the write
                self._saved_at = time.perf_counter()
        elif stage in ("finalize_block", "state_save"):
            self._execute_stages += seconds
        setattr(self.totals, stage, getattr(self.totals, stage) + seconds)

    def execute_started(self) -> float:
        now = time.perf_counter()
        if self.first_apply is None:
            self.first_apply = now
        if self._saved_at is not None:
            self.totals.wait_for_previous_commit += now - self._saved_at
            self._saved_at = None
        else:  # the block's write is still running beside this execution (or there was none)
            self._execute_waits_for_save = False
        self._execute_stages = 0.0
        return now

    def executed(self, execute_seconds: float) -> None:
        """The block's state is saved: the loop is free to take the next block."""
        now = time.perf_counter()
        self.totals.execute_other += execute_seconds - self._execute_stages
        self.blocks += 1
        self._free_at = now
        self.last_applied = now


class _TimedWrite:
    """A staged batch whose write (on whichever thread runs it) is added to a stage."""

    def __init__(self, pending: PendingWrite, clock: StageClock, stage: str, staged_in: float) -> None:
        self._pending = pending
        self._clock = clock
        self._stage = stage
        self._staged_in = staged_in

    def write(self) -> None:
        began = time.perf_counter()
        self._pending.write()
        self._clock.add(self._stage, self._staged_in + time.perf_counter() - began)


def _timed_staging(clock: StageClock, stage: str, staging: Callable[[], PendingWrite]) -> PendingWrite:
    """`staging()`, with its encoding time and its later write (on whichever thread) added to `stage`."""
    began = time.perf_counter()
    pending = staging()
    return cast(PendingWrite, _TimedWrite(pending, clock, stage, time.perf_counter() - began))


class TimedStore:
    """The node's BlockStore with each block's encoding and write timed."""

    def __init__(self, store: BlockStore, clock: StageClock) -> None:
        self._store = store
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def stage_block(
        self, block: Block, part_set: PartSet, seen_commit: Commit, ext_commit: ExtendedCommit | None = None
    ) -> PendingWrite:
        return _timed_staging(
            self._clock,
            "save_block",
            lambda: self._store.stage_block(block, part_set, seen_commit, ext_commit),
        )


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
        return _timed_staging(
            self._clock, "state_save", lambda: self._store.stage_save(state, finalize_response)
        )


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
        began = time.perf_counter()
        return self._clock.timed("finalize_block", self._app.finalize_block(request), began)

    def commit(self, request: abci_pb2.RequestCommit) -> defer.Deferred[abci_pb2.ResponseCommit]:
        began = time.perf_counter()
        return self._clock.timed("commit", self._app.commit(request), began)


class TimedExecutor:
    """The node's BlockExecutor, telling the clock when each execution starts and ends."""

    def __init__(self, executor: BlockExecutor, clock: StageClock) -> None:
        self._executor = executor
        self._clock = clock

    def validate_block(self, state: State, block: Block, skip_last_commit: bool = False) -> None:
        self._executor.validate_block(state, block, skip_last_commit)

    def execute_verified_block(
        self, state: State, block_id: BlockID, block: Block, stored: defer.Deferred[None] | None = None
    ) -> defer.Deferred[State]:
        began = self._clock.execute_started()

        def executed(new_state: State) -> State:
            self._clock.executed(time.perf_counter() - began)
            return new_state

        return self._executor.execute_verified_block(state, block_id, block, stored).addCallback(executed)

    def settled(self) -> defer.Deferred[None]:
        return self._executor.settled()
