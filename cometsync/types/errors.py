"""Typed errors of the data model, so callers (the blocksync reactor) can tell a bad peer from a bug."""

from __future__ import annotations


class TypesError(ValueError):
    """Base class of every validation error raised by `cometsync.types`."""


class InvalidCommit(TypesError):
    """A commit does not prove the block it claims to (see the subclasses for why)."""


class CommitSizeMismatch(InvalidCommit):
    def __init__(self, expected: int, got: int) -> None:
        super().__init__(f"invalid commit: {got} signatures for a validator set of {expected}")
        self.expected = expected
        self.got = got


class CommitHeightMismatch(InvalidCommit):
    def __init__(self, expected: int, got: int) -> None:
        super().__init__(f"invalid commit height: expected {expected}, got {got}")
        self.expected = expected
        self.got = got


class CommitBlockIDMismatch(InvalidCommit):
    def __init__(self, expected: object, got: object) -> None:
        super().__init__(f"invalid commit: wrong block id, expected {expected}, got {got}")
        self.expected = expected
        self.got = got


class ValidatorAddressMismatch(InvalidCommit):
    def __init__(self, index: int, expected: bytes, got: bytes) -> None:
        super().__init__(
            f"validator address mismatch at signature #{index}: expected {expected.hex().upper()}, "
            f"got {got.hex().upper()}"
        )
        self.index = index


class InvalidCommitSignature(InvalidCommit):
    """The first signature (by index) that fails ed25519 verification or basic checks."""

    def __init__(self, index: int, reason: str = "wrong signature") -> None:
        super().__init__(f"{reason} (#{index})")
        self.index = index


class InvalidVoteExtensionSignature(InvalidCommitSignature):
    def __init__(self, index: int) -> None:
        super().__init__(index, "wrong vote extension signature")


class MissingVoteExtension(InvalidCommit):
    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"vote extension check failed at signature #{index}: {reason}")
        self.index = index


class DoubleVote(InvalidCommit):
    def __init__(self, first: int, second: int) -> None:
        super().__init__(f"double vote from one validator (signatures #{first} and #{second})")
        self.first = first
        self.second = second


class InsufficientVotingPower(InvalidCommit):
    def __init__(self, tallied: int, needed: int, total: int) -> None:
        super().__init__(
            f"insufficient voting power: got {tallied}, needed more than {needed} (total {total})"
        )
        self.tallied = tallied
        self.needed = needed
        self.total = total


class InvalidBlock(TypesError):
    """`Block.validate_basic` or a hash/part-set check failed."""


class InvalidHeader(InvalidBlock):
    """A header field is malformed."""


class InvalidPartSet(TypesError):
    """A part does not belong to its part set (bad index, size or merkle proof)."""


class InvalidEvidence(TypesError):
    """Evidence failed its basic validation."""


class InvalidValidatorSet(TypesError):
    """A validator set or a validator change set is malformed."""
