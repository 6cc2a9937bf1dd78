"""Pre-decode filter for the blocksync channel (CometBFT v0.38.24+ `FilterMsgBytes`).

A BlockResponse carrying millions of commit signatures costs a peer a few bytes each but would cost us
a full protobuf decode; this filter walks the raw bytes instead, counting signatures without building
them, and rejects unsolicited or oversized responses before `codec.decode` ever runs.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from cometsync.blocksync.codec import BLOCKSYNC_CHANNEL, MAX_MSG_SIZE, MAX_VOTES_COUNT
from cometsync.proto.wire import WIRE_LEN, WireFormatError, iter_fields

_BLOCK_RESPONSE = 3
_BLOCK = 1
_EXT_COMMIT = 2
_LAST_COMMIT = 4
_SIGNATURES = 4


class FilterRejected(Exception):
    """The message must not be processed and the peer should be stopped for `reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SyncState(enum.Enum):
    """Where the local node is in its blocksync life, as far as accepting BlockResponses goes."""

    INACTIVE = "inactive"
    """Blocksync never ran (e.g. started as a validator in consensus): no BlockResponse was asked for."""
    ACTIVE = "active"
    """Syncing: only peers with an outstanding request may send a BlockResponse."""
    STOPPED_AFTER_SWITCH = "stopped_after_switch"
    """Switched to consensus: answers to our last requests may still arrive and are tolerated."""


@dataclass(frozen=True)
class SignatureCount:
    """Signatures in a BlockResponse, summed over repeated copies (protobuf merge semantics).

    Counting stops once a total passes `MAX_VOTES_COUNT`, so a count above the cap means "at least".
    """

    commit: int
    extended: int


def count_block_response_signatures(data: bytes) -> SignatureCount | None:
    """Signature counts if `data` (a blocksync Message) holds a BlockResponse, else None.

    Mirrors CometBFT's stub decoder: every `block_response` field counts, even one followed by another
    oneof case; raises WireFormatError for malformed bytes on the path to the signatures.
    """
    counter = _Counter()
    found = False
    for field in iter_fields(data):
        if field.number == _BLOCK_RESPONSE:
            _expect_len(field.wire_type, "block_response")
            found = True
            counter.block_response(data, field.start, field.end)
            if counter.over_cap():
                break
    return SignatureCount(counter.commit, counter.extended) if found else None


class MsgBytesFilter:
    """Runs on every complete channel message before decoding; `check` returns None or raises.

    `has_pending_request_from(peer_id)` is the pool's answer to "did we ask this peer for a block?"
    (primary or second requester). The reactor moves `state` along as it enables blocksync and
    switches to consensus.
    """

    def __init__(
        self,
        has_pending_request_from: Callable[[str], bool],
        state: SyncState = SyncState.INACTIVE,
    ) -> None:
        self._has_pending_request_from = has_pending_request_from
        self.state = state

    def check(self, channel_id: int, peer_id: str, data: bytes) -> None:
        """Raise FilterRejected if `data` from `peer_id` on `channel_id` must be dropped with the peer."""
        if channel_id != BLOCKSYNC_CHANNEL or not data:
            return
        if len(data) > MAX_MSG_SIZE:
            raise FilterRejected(
                f"blocksync message of {len(data)} bytes from peer {peer_id} exceeds {MAX_MSG_SIZE}"
            )
        try:
            counts = count_block_response_signatures(data)
        except WireFormatError as exc:
            raise FilterRejected(f"malformed blocksync message from peer {peer_id}: {exc}") from exc
        if counts is None:
            return
        if self.state is SyncState.INACTIVE:
            raise FilterRejected("unsolicited BlockResponse: blocksync not active")
        if self.state is SyncState.ACTIVE and not self._has_pending_request_from(peer_id):
            raise FilterRejected(f"unsolicited BlockResponse from peer {peer_id}")
        _check_caps(counts, peer_id)


def _check_caps(counts: SignatureCount, peer_id: str) -> None:
    if counts.commit > MAX_VOTES_COUNT:
        raise FilterRejected(
            f"too many commit signatures in BlockResponse from peer {peer_id}: more than {MAX_VOTES_COUNT}"
        )
    if counts.extended > MAX_VOTES_COUNT:
        raise FilterRejected(
            f"too many extended commit signatures in BlockResponse from peer {peer_id}: "
            f"more than {MAX_VOTES_COUNT}"
        )


class _Counter:
    """Walks BlockResponse -> Block -> Commit and ExtendedCommit, counting field 4 entries."""

    def __init__(self) -> None:
        self.commit = 0
        self.extended = 0

    def over_cap(self) -> bool:
        return self.commit > MAX_VOTES_COUNT or self.extended > MAX_VOTES_COUNT

    def block_response(self, data: bytes, start: int, end: int) -> None:
        for field in iter_fields(data, start, end):
            if field.number == _BLOCK:
                _expect_len(field.wire_type, "block")
                self._block(data, field.start, field.end)
            elif field.number == _EXT_COMMIT:
                _expect_len(field.wire_type, "ext_commit")
                room = MAX_VOTES_COUNT - self.extended
                self.extended += self._signatures(data, field.start, field.end, room)
            if self.over_cap():
                return

    def _block(self, data: bytes, start: int, end: int) -> None:
        for field in iter_fields(data, start, end):
            if field.number == _LAST_COMMIT:
                _expect_len(field.wire_type, "last_commit")
                self.commit += self._signatures(data, field.start, field.end, MAX_VOTES_COUNT - self.commit)
                if self.over_cap():
                    return

    @staticmethod
    def _signatures(data: bytes, start: int, end: int, room: int) -> int:
        """Entries of the repeated field 4 in a (extended) commit, stopping once past `room`."""
        count = 0
        for field in iter_fields(data, start, end):
            if field.number == _SIGNATURES:
                _expect_len(field.wire_type, "signatures")
                count += 1
                if count > room:
                    break
        return count


def _expect_len(wire_type: int, name: str) -> None:
    if wire_type != WIRE_LEN:
        raise WireFormatError(f"wrong wire type {wire_type} for field {name}")
