"""Commit verification as CometBFT v0.38.25 does it (`types/validation.go`).

Signatures are gathered first and checked in one `verify_all` call (which the crypto package may run in
parallel); the first failing index is reported, like Go's batch path.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import TYPE_CHECKING

from cometsync.crypto.batch import verify_all
from cometsync.types.block_id import BlockID
from cometsync.types.commit import BlockIDFlag, Commit, CommitSig, ExtendedCommit
from cometsync.types.errors import (
    CommitBlockIDMismatch,
    CommitHeightMismatch,
    CommitSizeMismatch,
    DoubleVote,
    InsufficientVotingPower,
    InvalidBlock,
    InvalidCommitSignature,
    InvalidVoteExtensionSignature,
    ValidatorAddressMismatch,
)

if TYPE_CHECKING:
    from cometsync.types.validator import Validator
    from cometsync.types.validator_set import ValidatorSet

SigFilter = Callable[[CommitSig], bool]


def _is_absent(sig: CommitSig) -> bool:
    return sig.block_id_flag == BlockIDFlag.ABSENT


def _is_not_commit(sig: CommitSig) -> bool:
    return sig.block_id_flag != BlockIDFlag.COMMIT


def _is_commit(sig: CommitSig) -> bool:
    return sig.block_id_flag == BlockIDFlag.COMMIT


def _always(sig: CommitSig) -> bool:
    return True


def _check_basics(vals: ValidatorSet, commit: Commit, height: int, block_id: BlockID) -> None:
    """`verifyBasicValsAndCommit`: size, height and block id must match before any signature work."""
    if vals.size() != commit.size():
        raise CommitSizeMismatch(vals.size(), commit.size())
    if commit.height != height:
        raise CommitHeightMismatch(height, commit.height)
    if commit.block_id != block_id:
        raise CommitBlockIDMismatch(block_id, commit.block_id)


def _verify(
    chain_id: str,
    vals: ValidatorSet,
    commit: Commit,
    needed: int,
    ignore: SigFilter,
    count: SigFilter,
    count_all: bool,
    by_index: bool,
) -> None:
    """Select signatures, tally power (must exceed `needed`), then verify the selected signatures."""
    indices: list[int] = []
    signers: list[Validator] = []
    seen: dict[int, int] = {}
    validators = vals.validators
    tallied = 0
    for index, sig in enumerate(commit.signatures):
        if ignore(sig):
            continue
        try:
            sig.validate_basic()
        except InvalidBlock as err:
            raise InvalidCommitSignature(index, f"invalid signature: {err}") from err
        if by_index:
            val = validators[index] if index < len(validators) else None
            if val is None or val.address != sig.validator_address:
                raise ValidatorAddressMismatch(index, val.address if val else b"", sig.validator_address)
        else:
            found = vals.get_by_address(sig.validator_address)
            if found is None:
                continue
            val_index, val = found
            if val_index in seen:
                raise DoubleVote(seen[val_index], index)
            seen[val_index] = index
        indices.append(index)
        signers.append(val)
        if count(sig):
            tallied += val.voting_power
        if not count_all and tallied > needed:
            break
    if tallied <= needed:
        raise InsufficientVotingPower(tallied, needed, vals.total_voting_power())
    messages = commit.all_vote_sign_bytes(chain_id, indices)
    items = [
        (val.pub_key, msg, commit.signatures[index].signature)
        for val, msg, index in zip(signers, messages, indices, strict=True)
    ]
    for position, ok in enumerate(verify_all(items)):
        if not ok:
            raise InvalidCommitSignature(indices[position])


def verify_commit(chain_id: str, vals: ValidatorSet, block_id: BlockID, height: int, commit: Commit) -> None:
    """`VerifyCommit`: every COMMIT and NIL signature verified; COMMIT power must exceed 2/3."""
    _check_basics(vals, commit, height, block_id)
    needed = vals.total_voting_power() * 2 // 3
    _verify(chain_id, vals, commit, needed, _is_absent, _is_commit, count_all=True, by_index=True)


def verify_commit_light(
    chain_id: str,
    vals: ValidatorSet,
    block_id: BlockID,
    height: int,
    commit: Commit,
    all_signatures: bool = False,
) -> None:
    """`VerifyCommitLight`: only COMMIT signatures, stopping once > 2/3 is reached."""
    _check_basics(vals, commit, height, block_id)
    needed = vals.total_voting_power() * 2 // 3
    _verify(chain_id, vals, commit, needed, _is_not_commit, _always, all_signatures, by_index=True)


def verify_commit_light_trusting(
    chain_id: str,
    vals: ValidatorSet,
    commit: Commit,
    trust_level: Fraction,
    all_signatures: bool = False,
) -> None:
    """`VerifyCommitLightTrusting`: signers looked up by address in a possibly different (trusted) set."""
    if trust_level.denominator == 0:
        raise ValueError("trust level has zero denominator")
    needed = vals.total_voting_power() * trust_level.numerator // trust_level.denominator
    _verify(chain_id, vals, commit, needed, _is_not_commit, _always, all_signatures, by_index=False)


def verify_commit_extended(
    chain_id: str, vals: ValidatorSet, block_id: BlockID, height: int, ext_commit: ExtendedCommit
) -> None:
    """`VerifyCommitExtended` (v0.38.24+): extensions present, commit valid, every extension signed."""
    ext_commit.ensure_extensions(True)
    verify_commit(chain_id, vals, block_id, height, ext_commit.to_commit())
    indices = [
        index
        for index, ext in enumerate(ext_commit.extended_signatures)
        if ext.commit_sig.block_id_flag == BlockIDFlag.COMMIT
    ]
    validators = vals.validators
    items = [
        (
            validators[index].pub_key,
            ext_commit.extension_sign_bytes(chain_id, index),
            ext_commit.extended_signatures[index].extension_signature,
        )
        for index in indices
    ]
    for position, ok in enumerate(verify_all(items)):
        if not ok:
            raise InvalidVoteExtensionSignature(indices[position])
