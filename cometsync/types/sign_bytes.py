"""Canonical sign bytes of votes and vote extensions (`types/canonical.go`, `types/vote.go`).

A commit's signatures share everything but the timestamp, so the encoding is split into a prefix
(type, height, round, block id), the timestamp field and a chain-id suffix that callers can reuse.
"""

from __future__ import annotations

from enum import IntEnum

from cometsync.proto.wire import (
    bytes_field,
    length_delimited,
    message_field,
    sfixed64_field,
    varint_field,
)
from cometsync.types.block_id import BlockID
from cometsync.types.timestamp import Timestamp


class SignedMsgType(IntEnum):
    UNKNOWN = 0
    PREVOTE = 1
    PRECOMMIT = 2
    PROPOSAL = 32


def canonical_vote_prefix(msg_type: int, height: int, round_: int, block_id: BlockID) -> bytes:
    """CanonicalVote fields 1-4; a zero block id (nil vote) is left out entirely."""
    prefix = varint_field(1, msg_type) + sfixed64_field(2, height) + sfixed64_field(3, round_)
    if not block_id.is_zero():
        prefix += message_field(4, block_id.encode())
    return prefix


def chain_id_suffix(chain_id: str) -> bytes:
    """CanonicalVote field 6."""
    return bytes_field(6, chain_id.encode())


def assemble_vote_sign_bytes(prefix: bytes, timestamp: Timestamp, suffix: bytes) -> bytes:
    """Length-delimited CanonicalVote from a shared prefix/suffix and one timestamp (always emitted)."""
    return length_delimited(prefix + message_field(5, timestamp.encode()) + suffix)


def vote_sign_bytes(
    chain_id: str, msg_type: int, height: int, round_: int, block_id: BlockID, timestamp: Timestamp
) -> bytes:
    """`VoteSignBytes`: what a validator signs for a prevote/precommit."""
    prefix = canonical_vote_prefix(msg_type, height, round_, block_id)
    return assemble_vote_sign_bytes(prefix, timestamp, chain_id_suffix(chain_id))


def vote_extension_sign_bytes(chain_id: str, height: int, round_: int, extension: bytes) -> bytes:
    """`VoteExtensionSignBytes`: length-delimited CanonicalVoteExtension."""
    body = (
        bytes_field(1, extension)
        + sfixed64_field(2, height)
        + sfixed64_field(3, round_)
        + bytes_field(4, chain_id.encode())
    )
    return length_delimited(body)
