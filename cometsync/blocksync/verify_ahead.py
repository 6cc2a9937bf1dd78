"""Signature checks for upcoming heights, run in an executor while earlier blocks are applied.

Block j's commit arrives inside block j+1, so as soon as both are held the commit can be checked, long
before j is next in line. A verdict is only handed out for the exact blocks it was computed on and if the
validator set it used is the state's current one when j's turn comes (updates take effect at H+2, so
heights further ahead are checked with an assumed set and re-checked when the assumption was wrong).

Chain proofs: while the held headers keep the state's validator set and link by hash (header j+1's
`last_block_id` is block j's id), one fully verified commit for the highest of them proves every block
below it, as the light client's backward verification does: a peer cannot alter a linked block without
breaking a hash, and forging the top needs +2/3 of the same validators CometBFT trusts for each height.
So a commit of every height is verified only where the set changes, extensions are on or a link breaks;
a failed chain proof falls back to per-height verdicts, which name the culprit exactly.
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


@dataclass(frozen=True)
class _Link:
    """Facts about a held block and the one held above it (compared by identity, as `_Entry`)."""

    block: Block
    upper: Block
    linked: bool
    """The upper header's `last_block_id` is this block's id."""
    names_own: bool
    """The upper block's LastCommit is for this block."""


CHAIN_PROOF_SPACING = 16
"""A new chain proof is started once the provable run reaches this far above the newest one."""
CHAIN_PROOF_REACH = 64
"""...and at most this far above it: each plan walks at most this many held blocks."""

_PROVEN = CommitVerdict(None, None)
"""The verdict for a height below a standing chain proof."""


class VerifyAhead:
    """Keeps up to `max_in_flight` CommitJobs running for the heights at and above the state's next one.

    `notify_done` is called (from whatever thread completes the future) when a job finishes; the driver
    bridges it to its event loop. `chain_proofs=False` verifies every height's commit.
    """

    def __init__(
        self,
        executor: Executor,
        notify_done: Callable[[], None],
        max_in_flight: int = 32,
        *,
        chain_proofs: bool = True,
        proof_spacing: int = CHAIN_PROOF_SPACING,
    ) -> None:
        self._executor = executor
        self._notify_done = notify_done
        self._max_in_flight = max_in_flight
        self._chain_proofs = chain_proofs
        self._proof_spacing = proof_spacing
        self._candidates: dict[int, tuple[Block, ExtendedCommit | None]] = {}
        self._entries: dict[int, _Entry] = {}
        self._links: dict[int, _Link] = {}
        self._floor: int | None = None
        """No candidate or entry is below this height (None: none was ever held)."""
        self.chain_proven = 0
        """Heights whose commit was proven by a later one (their own signatures never checked)."""

    def block_arrived(self, block: Block, ext_commit: ExtendedCommit | None) -> None:
        """The pool accepted `block` (replacing any earlier block it held at that height)."""
        self._candidates[block.height] = (block, ext_commit)
        self._note_height(block.height)

    def plan(self, state: ChainStateView) -> None:
        """Drop what is behind the state and submit jobs for held pairs, in height order."""
        next_height = state.last_block_height + 1
        if self._floor is not None and self._floor < next_height:
            for height in range(self._floor, next_height):  # the state moves one height at a time
                self._candidates.pop(height, None)
                self._entries.pop(height, None)
                self._links.pop(height, None)
            self._floor = next_height
        in_flight = sum(1 for entry in self._entries.values() if not entry.future.done())
        if self._chain_proofs:
            if in_flight < self._max_in_flight and self._start_chain_proof(state):
                in_flight += 1
            # Heights with vote extensions need their own verdict; the rest wait for a chain proof.
            enable = state.consensus_params.vote_extensions_enable_height
            if enable == 0:
                return
            next_height = max(next_height, enable)
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
        if entry is None and self._chain_proofs and ext_commit is None and self._holds(height + 1, second):
            proof = self._chain_proof_for(state)
            if proof is not None:
                if not proof.done():
                    return None
                self.chain_proven += 1
                return _PROVEN
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

    def _note_height(self, height: int) -> None:
        self._floor = height if self._floor is None else min(self._floor, height)

    def _holds(self, height: int, block: Block) -> bool:
        held = self._candidates.get(height)
        return held is not None and held[0] is block

    def _linked_run(self, state: ChainStateView, start: int) -> Iterator[int]:
        """Heights from `start` that one commit of a higher one could prove: held with their successor,
        signed by the state's set, without extensions, each linked by hash to the one above."""
        validators_hash = state.validators.hash()
        params = state.consensus_params
        for height, upper, _ in self._pairs(start):
            block = self._candidates[height][0]
            if block.header.validators_hash != validators_hash or params.vote_extensions_enabled(height):
                return
            yield height
            if not self._link(height, block, upper).linked:
                return

    def _names_own_block(self, height: int) -> bool:
        """Whether the commit for `height` (inside the block above) is for the block held at `height`."""
        return self._link(height, self._candidates[height][0], self._candidates[height + 1][0]).names_own

    def _link(self, height: int, block: Block, upper: Block) -> _Link:
        """How `block` and the `upper` one held above it relate, worked out once per pair: every plan walks
        the held run again, and comparing block ids each time cost a tenth of the sync loop."""
        link = self._links.get(height)
        if link is None or link.block is not block or link.upper is not upper:
            block_id = block.block_id()
            commit = upper.last_commit
            names_own = commit is not None and commit.block_id == block_id
            linked = upper.header.last_block_id == block_id
            link = self._links[height] = _Link(block, upper, linked, names_own)
        return link

    def _start_chain_proof(self, state: ChainStateView) -> bool:
        """Submit the commit at the top of the linked run once it is `proof_spacing` above the newest
        proof still standing (the run is walked from that proof: the verdict re-walks from the bottom)."""
        next_height = state.last_block_height + 1
        newest = (h for h in sorted(self._entries, reverse=True) if self._standing_proof(state, h))
        standing = next(newest, None)
        base = next_height if standing is None else standing
        top = None
        for height in self._linked_run(state, base):
            if height > base + CHAIN_PROOF_REACH:
                break
            if self._names_own_block(height):
                top = height
        if top is None or (standing is not None and top < base + self._proof_spacing):
            return False
        second = self._candidates[top + 1][0]
        if self._matching(top, second, None) is not None:
            return False
        self._submit(top, commit_job(state, second, None), second, None)
        return True

    def _standing_proof(self, state: ChainStateView, height: int) -> Future[CommitVerdict] | None:
        """The job at `height` if it was made on the held blocks with the state's set and has not failed."""
        if height + 1 not in self._candidates or height not in self._candidates:
            return None
        entry = self._matching(height, self._candidates[height + 1][0], None)
        if entry is None or entry.validators_hash != state.validators.hash():
            return None
        future = entry.future
        if future.done() and (future.exception() is not None or future.result().commit_error is not None):
            return None
        if not self._names_own_block(height):
            return None
        return future

    def _chain_proof_for(self, state: ChainStateView) -> Future[CommitVerdict] | None:
        """The lowest job in the linked run from the state's next height, if it stands (None: verify per
        height — no proof, or the lowest one failed)."""
        for height in self._linked_run(state, state.last_block_height + 1):
            if self._matching(height, self._candidates[height + 1][0], None) is not None:
                return self._standing_proof(state, height)
        return None

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
        self._note_height(height)
        future.add_done_callback(lambda _: self._notify_done())
        return entry


def _expected_validators(state: ChainStateView, height: int, block: Block) -> ValidatorSet | None:
    """The set that signs `height` if it is one the state already knows and the header agrees."""
    claimed = block.header.validators_hash
    for candidate in (state.validators, state.next_validators):
        if candidate.hash() == claimed:
            return candidate
    return None
