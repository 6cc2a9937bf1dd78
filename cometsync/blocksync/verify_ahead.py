"""Signature checks for upcoming heights, run in an executor while earlier blocks are applied.

Block j's commit arrives inside block j+1, so as soon as both are held the commit can be checked, long
before j is next in line. A verdict is only handed out for the exact blocks it was computed on and if the
validator set it used is the state's current one when j's turn comes (updates take effect at H+2, so
heights further ahead are checked with an assumed set and re-checked when the assumption was wrong).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any, TypeVar

from cometsync.blocksync.ports import ChainStateView
from cometsync.blocksync.verify import CommitJob, CommitVerdict, check_commits, commit_job
from cometsync.types import Block, ExtendedCommit, ValidatorSet

log = logging.getLogger(__name__)

T = TypeVar("T")


class InlineExecutor(Executor):
    """Runs each job at submit time; for single-core setups and deterministic tests."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # delivered through the future, as a process pool would
            future.set_exception(exc)
        return future


@dataclass
class _Entry:
    """A submitted job and the exact objects it was computed on (compared by identity)."""

    second: Block
    ext_commit: ExtendedCommit | None
    validators_hash: bytes
    future: Future[CommitVerdict]


class VerifyAhead:
    """Keeps up to `max_in_flight` CommitJobs running for the heights at and above the state's next one.

    `notify_done` is called (from whatever thread completes the future) when a job finishes; the driver
    bridges it to its event loop.
    """

    def __init__(self, executor: Executor, notify_done: Callable[[], None], max_in_flight: int = 32) -> None:
        self._executor = executor
        self._notify_done = notify_done
        self._max_in_flight = max_in_flight
        self._candidates: dict[int, tuple[Block, ExtendedCommit | None]] = {}
        self._entries: dict[int, _Entry] = {}

    def block_arrived(self, block: Block, ext_commit: ExtendedCommit | None) -> None:
        """The pool accepted `block` (replacing any earlier block it held at that height)."""
        self._candidates[block.height] = (block, ext_commit)

    def plan(self, state: ChainStateView) -> None:
        """Drop what is behind the state and submit jobs for held pairs, in height order."""
        next_height = state.last_block_height + 1
        for table in (self._candidates, self._entries):
            for height in [h for h in table if h < next_height]:
                del table[height]
        in_flight = sum(1 for entry in self._entries.values() if not entry.future.done())
        for height, second, ext_commit in self._pairs(next_height):
            if in_flight >= self._max_in_flight:
                return
            if self._matching(height, second, ext_commit) is not None:
                continue
            validators = _expected_validators(state, height, self._candidates[height][0])
            if validators is None:
                continue
            self._submit(height, commit_job(state, second, ext_commit, validators), second, ext_commit)
            in_flight += 1

    def verdict_for(
        self, state: ChainStateView, second: Block, ext_commit: ExtendedCommit | None
    ) -> CommitVerdict | None:
        """The verdict for the pair ending in `second`, or None while it is still being computed."""
        height = second.height - 1
        entry = self._matching(height, second, ext_commit)
        if entry is None or entry.validators_hash != state.validators.hash():
            entry = self._submit(height, commit_job(state, second, ext_commit), second, ext_commit)
        if not entry.future.done():
            return None
        error = entry.future.exception()
        if error is None:
            return entry.future.result()
        log.warning("commit check for height %d failed in the executor (%s); checking inline", height, error)
        verdict = check_commits(commit_job(state, second, ext_commit))
        del self._entries[height]
        return verdict

    def _pairs(self, start: int) -> Iterator[tuple[int, Block, ExtendedCommit | None]]:
        height = start
        while height in self._candidates and height + 1 in self._candidates:
            yield height, self._candidates[height + 1][0], self._candidates[height][1]
            height += 1

    def _matching(self, height: int, second: Block, ext_commit: ExtendedCommit | None) -> _Entry | None:
        entry = self._entries.get(height)
        if entry is None or entry.second is not second or entry.ext_commit is not ext_commit:
            return None
        return entry

    def _submit(
        self, height: int, job: CommitJob, second: Block, ext_commit: ExtendedCommit | None
    ) -> _Entry:
        future = self._executor.submit(check_commits, job)
        entry = _Entry(second, ext_commit, job.validators.hash(), future)
        self._entries[height] = entry
        future.add_done_callback(lambda _: self._notify_done())
        return entry


def _expected_validators(state: ChainStateView, height: int, block: Block) -> ValidatorSet | None:
    """The set that signs `height` if it is one the state already knows and the header agrees."""
    claimed = block.header.validators_hash
    for candidate in (state.validators, state.next_validators):
        if candidate.hash() == claimed:
            return candidate
    return None
