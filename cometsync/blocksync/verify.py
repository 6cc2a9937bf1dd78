"""Verification of the next block to sync: block h is proven by block h+1's LastCommit.

Pure functions, no I/O. The signature work (`check_commits`) is separate and picklable so it can run ahead
in worker processes; `verify_pair` combines its verdict with the checks that need the current state.

Attribution (who is punished when a pair fails), stricter than CometBFT's "always both senders":
1. an extended commit present when extensions are off at h, or missing when on -> sender of h;
2. h+1's LastCommit does not verify, with the validators of h, for the block id it names itself
   (bad signature, too little power, wrong size or height) -> sender of h+1: an honest block's
   LastCommit always does;
3. that commit is valid but names another block id than h's -> sender of h: +2/3 of the validators
   signed a different block;
4. h's extended commit fails verification or names another block -> sender of h (it came with h);
5. h is the committed block but fails `validate_block` against our state -> both (CometBFT's rule: no peer
   can be singled out, the block is the one the validators signed).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from cometsync.blocksync.ports import ChainStateView
from cometsync.state.errors import StateError
from cometsync.types import (
    Block,
    BlockID,
    Commit,
    ExtendedCommit,
    InvalidCommit,
    PartSet,
    TypesError,
    ValidatorSet,
    verify_commit,
    verify_commit_extended,
)


class Culprit(enum.Enum):
    """Whose block a failed pair is blamed on."""

    FIRST = "first"
    SECOND = "second"
    BOTH = "both"

    def heights(self, first_height: int) -> list[int]:
        """Heights whose senders get punished."""
        if self is Culprit.FIRST:
            return [first_height]
        if self is Culprit.SECOND:
            return [first_height + 1]
        return [first_height, first_height + 1]


class PairVerificationError(Exception):
    """Block h (proven by h+1) cannot be applied; `culprit` says whose sender to punish."""

    def __init__(self, culprit: Culprit, reason: str) -> None:
        super().__init__(reason)
        self.culprit = culprit
        self.reason = reason


@dataclass(frozen=True)
class CommitJob:
    """The signature work for one height: h+1's LastCommit and h's extended commit, with h's validators."""

    chain_id: str
    validators: ValidatorSet
    height: int
    last_commit: Commit
    ext_commit: ExtendedCommit | None


@dataclass(frozen=True)
class CommitVerdict:
    """Outcome of a CommitJob; each commit is checked against the block id it names itself."""

    commit_error: str | None
    ext_error: str | None


def check_commits(job: CommitJob) -> CommitVerdict:
    """Full VerifyCommit (every signature) and VerifyCommitExtended; runs in a worker process."""
    commit = job.last_commit
    commit_error = _commit_problem(
        lambda: verify_commit(job.chain_id, job.validators, commit.block_id, job.height, commit)
    )
    ext_error = None
    ext = job.ext_commit
    if ext is not None:
        ext_error = _commit_problem(
            lambda: verify_commit_extended(job.chain_id, job.validators, ext.block_id, job.height, ext)
        )
    return CommitVerdict(commit_error, ext_error)


def _commit_problem(verify: Callable[[], None]) -> str | None:
    try:
        verify()
    except InvalidCommit as err:
        return f"{type(err).__name__}: {err}"
    return None


@dataclass(frozen=True)
class VerifiedBlock:
    """Block h ready to be saved (with h+1's LastCommit as its seen commit) and applied."""

    block: Block
    block_id: BlockID
    part_set: PartSet
    seen_commit: Commit
    ext_commit: ExtendedCommit | None


def commit_job(
    state: ChainStateView,
    second: Block,
    ext_commit: ExtendedCommit | None,
    validators: ValidatorSet | None = None,
) -> CommitJob:
    """The signature work for the pair ending in `second`, with `validators` (default: the state's)."""
    if second.last_commit is None:
        raise ValueError(f"block {second.height} has no LastCommit")
    signers = state.validators if validators is None else validators
    return CommitJob(state.chain_id, signers, second.height - 1, second.last_commit, ext_commit)


def verify_pair(
    state: ChainStateView,
    first: Block,
    second: Block,
    ext_commit: ExtendedCommit | None,
    *,
    validate_block: Callable[[Block], None],
    verdict: CommitVerdict | None = None,
) -> VerifiedBlock:
    """Prove `first` with `second.last_commit`; raises PairVerificationError naming the culprit.

    Both blocks already passed `validate_basic` on receipt. `verdict` is the result of `check_commits`
    computed ahead with `state.validators`; without it the signatures are checked here.
    `validate_block(first)` applies CometBFT's state-dependent rules (`BlockExecutor.validate_block`).
    """
    height = first.height
    if height != state.last_block_height + 1 or second.height != height + 1:
        raise ValueError(
            f"pool handed heights {height}, {second.height} to a state at {state.last_block_height}"
        )
    extensions = state.consensus_params.vote_extensions_enabled(height)
    if (ext_commit is not None) != extensions:
        problem = "unexpected extended commit" if ext_commit is not None else "missing extended commit"
        raise PairVerificationError(
            Culprit.FIRST, f"{problem} for block {height} (vote extensions enabled: {extensions})"
        )
    if second.last_commit is None:
        raise PairVerificationError(Culprit.SECOND, f"block {second.height} has no LastCommit")
    if verdict is None:
        verdict = check_commits(commit_job(state, second, ext_commit))
    if verdict.commit_error is not None:
        raise PairVerificationError(
            Culprit.SECOND,
            f"block {second.height} carries an invalid commit for {height}: {verdict.commit_error}",
        )
    part_set = first.make_part_set()
    block_id = first.block_id(part_set)
    if second.last_commit.block_id != block_id:
        raise PairVerificationError(
            Culprit.FIRST,
            f"block {height} ({block_id.hash.hex()}) is not the block the validators committed "
            f"({second.last_commit.block_id.hash.hex()})",
        )
    if ext_commit is not None:
        if verdict.ext_error is not None:
            reason = f"invalid extended commit for {height}: {verdict.ext_error}"
            raise PairVerificationError(Culprit.FIRST, reason)
        if ext_commit.block_id != block_id:
            raise PairVerificationError(Culprit.FIRST, f"extended commit for {height} names another block")
    try:
        validate_block(first)
    except (TypesError, StateError) as err:
        raise PairVerificationError(Culprit.BOTH, f"committed block {height} is invalid: {err}") from err
    return VerifiedBlock(first, block_id, part_set, second.last_commit, ext_commit)
