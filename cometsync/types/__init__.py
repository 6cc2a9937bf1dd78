"""CometBFT v0.38 data model, byte-exact with Go's gogoproto encoding, and commit verification."""

from cometsync.types.block import Block, BlockMeta, tx_hash, txs_hash
from cometsync.types.block_id import BlockID, PartSetHeader
from cometsync.types.commit import BlockIDFlag, Commit, CommitSig, ExtendedCommit, ExtendedCommitSig
from cometsync.types.errors import (
    CommitBlockIDMismatch,
    CommitHeightMismatch,
    CommitSizeMismatch,
    DoubleVote,
    InsufficientVotingPower,
    InvalidBlock,
    InvalidCommit,
    InvalidCommitSignature,
    InvalidEvidence,
    InvalidHeader,
    InvalidPartSet,
    InvalidValidatorSet,
    InvalidVoteExtensionSignature,
    MissingVoteExtension,
    TypesError,
    ValidatorAddressMismatch,
)
from cometsync.types.evidence import (
    DuplicateVoteEvidence,
    Evidence,
    LightClientAttackEvidence,
    evidence_list_hash,
)
from cometsync.types.genesis import Genesis
from cometsync.types.header import Header, Version
from cometsync.types.light import (
    LightBlock,
    LightVerificationError,
    NotEnoughTrust,
    SignedHeader,
    verify_light,
)
from cometsync.types.merkle import Proof, hash_from_byte_slices, inner_hash, leaf_hash
from cometsync.types.params import ConsensusParams
from cometsync.types.part_set import BLOCK_PART_SIZE, Part, PartSet
from cometsync.types.results import DeterministicTxResult, results_hash
from cometsync.types.sign_bytes import SignedMsgType, vote_extension_sign_bytes, vote_sign_bytes
from cometsync.types.timestamp import ZERO_TIME, Timestamp
from cometsync.types.validator import Validator
from cometsync.types.validator_set import ValidatorSet
from cometsync.types.verification import (
    verify_commit,
    verify_commit_extended,
    verify_commit_light,
    verify_commit_light_trusting,
)
from cometsync.types.vote import Vote

__all__ = [
    "BLOCK_PART_SIZE",
    "ZERO_TIME",
    "Block",
    "BlockID",
    "BlockIDFlag",
    "BlockMeta",
    "Commit",
    "CommitBlockIDMismatch",
    "CommitHeightMismatch",
    "CommitSig",
    "CommitSizeMismatch",
    "ConsensusParams",
    "DeterministicTxResult",
    "DoubleVote",
    "DuplicateVoteEvidence",
    "Evidence",
    "ExtendedCommit",
    "ExtendedCommitSig",
    "Genesis",
    "Header",
    "InsufficientVotingPower",
    "InvalidBlock",
    "InvalidCommit",
    "InvalidCommitSignature",
    "InvalidEvidence",
    "InvalidHeader",
    "InvalidPartSet",
    "InvalidValidatorSet",
    "InvalidVoteExtensionSignature",
    "LightBlock",
    "LightClientAttackEvidence",
    "LightVerificationError",
    "MissingVoteExtension",
    "NotEnoughTrust",
    "Part",
    "PartSet",
    "PartSetHeader",
    "Proof",
    "SignedHeader",
    "SignedMsgType",
    "Timestamp",
    "TypesError",
    "Validator",
    "ValidatorAddressMismatch",
    "ValidatorSet",
    "Version",
    "Vote",
    "evidence_list_hash",
    "hash_from_byte_slices",
    "inner_hash",
    "leaf_hash",
    "results_hash",
    "tx_hash",
    "txs_hash",
    "verify_commit",
    "verify_commit_extended",
    "verify_commit_light",
    "verify_commit_light_trusting",
    "verify_light",
    "vote_extension_sign_bytes",
    "vote_sign_bytes",
]
