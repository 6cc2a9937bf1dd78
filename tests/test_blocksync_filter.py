"""Pre-decode filter: every row of CometBFT v0.38.25 TestFilterMsgBytes, plus wire-format edge cases."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import pytest

from cometsync.blocksync.codec import BLOCKSYNC_CHANNEL, MAX_MSG_SIZE, MAX_VOTES_COUNT, BlockRequest, encode
from cometsync.blocksync.msg_filter import (
    FilterRejected,
    MsgBytesFilter,
    SignatureCount,
    SyncState,
    count_block_response_signatures,
)
from cometsync.proto.tendermint.blocksync import types_pb2 as bs_pb2
from cometsync.proto.tendermint.types import block_pb2, types_pb2, validator_pb2
from cometsync.proto.wire import uvarint

EXPECTED = "expected"
UNEXPECTED = "unexpected"
ABSENT = validator_pb2.BLOCK_ID_FLAG_ABSENT


def block_response_bytes() -> bytes:
    return bytes(
        bs_pb2.Message(block_response=bs_pb2.BlockResponse(block=block_pb2.Block())).SerializeToString()
    )


def block_request_bytes() -> bytes:
    return encode(BlockRequest(1))


def block_response_with_sigs(commit_sigs: int, ext_sigs: int) -> bytes:
    """Like the Go helper: a block whose last_commit has `commit_sigs` ABSENT sigs, and an ext commit."""
    commit = types_pb2.Commit(signatures=[types_pb2.CommitSig(block_id_flag=ABSENT)] * commit_sigs)
    extended = types_pb2.ExtendedCommit(
        extended_signatures=[types_pb2.ExtendedCommitSig(block_id_flag=ABSENT)] * ext_sigs
    )
    response = bs_pb2.BlockResponse(block=block_pb2.Block(last_commit=commit), ext_commit=extended)
    return bytes(bs_pb2.Message(block_response=response).SerializeToString())


def pool_state(state: SyncState, asked: set[str]) -> MsgBytesFilter:
    return MsgBytesFilter(asked.__contains__, state)


def syncing(*asked: str) -> MsgBytesFilter:
    return pool_state(SyncState.ACTIVE, set(asked))


HALF_PLUS_ONE = MAX_VOTES_COUNT // 2 + 1

CASES: list[tuple[str, Callable[[], MsgBytesFilter], int, str, Callable[[], bytes], str]] = [
    (
        "rejects BlockResponse when blocksync never ran",
        lambda: pool_state(SyncState.INACTIVE, set()),
        BLOCKSYNC_CHANNEL,
        UNEXPECTED,
        block_response_bytes,
        "blocksync not active",
    ),
    (
        "allows late BlockResponse after pool stops for consensus switch",
        lambda: pool_state(SyncState.STOPPED_AFTER_SWITCH, set()),
        BLOCKSYNC_CHANNEL,
        UNEXPECTED,
        block_response_bytes,
        "",
    ),
    (
        "rejects oversized BlockResponse after pool stops for consensus switch",
        lambda: pool_state(SyncState.STOPPED_AFTER_SWITCH, set()),
        BLOCKSYNC_CHANNEL,
        UNEXPECTED,
        lambda: block_response_with_sigs(MAX_VOTES_COUNT + 1, 0),
        "too many commit signatures",
    ),
    (
        "rejects unsolicited BlockResponse with no requesters",
        syncing,
        BLOCKSYNC_CHANNEL,
        UNEXPECTED,
        block_response_bytes,
        "unsolicited BlockResponse from peer unexpected",
    ),
    (
        "rejects BlockResponse from peer we did not request from",
        lambda: syncing(EXPECTED),
        BLOCKSYNC_CHANNEL,
        UNEXPECTED,
        block_response_bytes,
        "unsolicited BlockResponse from peer unexpected",
    ),
    (
        "allows BlockResponse from solicited peer",
        lambda: syncing(EXPECTED),
        BLOCKSYNC_CHANNEL,
        EXPECTED,
        block_response_bytes,
        "",
    ),
    (
        "allows non-BlockResponse messages even when disabled",
        syncing,
        BLOCKSYNC_CHANNEL,
        "any",
        block_request_bytes,
        "",
    ),
    ("ignores other channels", syncing, 0x20, "any", block_response_bytes, ""),
    ("ignores empty bytes", syncing, BLOCKSYNC_CHANNEL, "any", lambda: b"", ""),
    (
        "allows BlockResponse at MaxVotesCount commit signatures",
        lambda: syncing(EXPECTED),
        BLOCKSYNC_CHANNEL,
        EXPECTED,
        lambda: block_response_with_sigs(MAX_VOTES_COUNT, 0),
        "",
    ),
    (
        "rejects BlockResponse exceeding commit signature cap",
        lambda: syncing(EXPECTED),
        BLOCKSYNC_CHANNEL,
        EXPECTED,
        lambda: block_response_with_sigs(MAX_VOTES_COUNT + 1, 0),
        "too many commit signatures",
    ),
    (
        "rejects BlockResponse exceeding extended commit signature cap",
        lambda: syncing(EXPECTED),
        BLOCKSYNC_CHANNEL,
        EXPECTED,
        lambda: block_response_with_sigs(0, MAX_VOTES_COUNT + 1),
        "too many extended commit signatures",
    ),
    (
        "rejects BlockResponse splitting signatures across duplicate Block fields",
        lambda: syncing(EXPECTED),
        BLOCKSYNC_CHANNEL,
        EXPECTED,
        lambda: block_response_with_sigs(HALF_PLUS_ONE, 0) * 2,
        "too many commit signatures",
    ),
    (
        "rejects BlockResponse when first byte is not BlockResponse proto tag",
        lambda: syncing(EXPECTED),
        BLOCKSYNC_CHANNEL,
        EXPECTED,
        lambda: b"\x0a\x00" + block_response_with_sigs(MAX_VOTES_COUNT + 1, 0),
        "too many commit signatures",
    ),
]


@pytest.mark.parametrize(
    ("name", "make_filter", "channel", "peer", "make_bytes", "error"), CASES, ids=[c[0] for c in CASES]
)
def test_filter_msg_bytes(
    name: str,
    make_filter: Callable[[], MsgBytesFilter],
    channel: int,
    peer: str,
    make_bytes: Callable[[], bytes],
    error: str,
) -> None:
    check = make_filter().check
    if not error:
        assert check(channel, peer, make_bytes()) is None
        return
    with pytest.raises(FilterRejected) as info:
        check(channel, peer, make_bytes())
    assert error in info.value.reason
    assert str(info.value) == info.value.reason


def test_counts_sum_over_copies_and_both_commits() -> None:
    data = block_response_with_sigs(3, 4) + block_response_with_sigs(5, 0)
    assert count_block_response_signatures(data) == SignatureCount(commit=8, extended=4)


def test_second_peer_and_state_changes_are_seen_live() -> None:
    asked: set[str] = set()
    msg_filter = MsgBytesFilter(asked.__contains__)
    with pytest.raises(FilterRejected, match="not active"):
        msg_filter.check(BLOCKSYNC_CHANNEL, "b", block_response_bytes())
    msg_filter.state = SyncState.ACTIVE
    asked.add("b")
    msg_filter.check(BLOCKSYNC_CHANNEL, "b", block_response_bytes())
    asked.clear()
    msg_filter.state = SyncState.STOPPED_AFTER_SWITCH
    msg_filter.check(BLOCKSYNC_CHANNEL, "b", block_response_bytes())


def test_message_above_channel_capacity_is_rejected_before_parsing() -> None:
    data = b"\x0a\x00" * (MAX_MSG_SIZE // 2 + 1)
    with pytest.raises(FilterRejected, match=f"exceeds {MAX_MSG_SIZE}"):
        syncing().check(BLOCKSYNC_CHANNEL, "p", data)


@pytest.mark.parametrize(
    "data",
    [
        b"\xff",  # tag varint never ends
        b"\x1a\x05\x0a",  # block_response longer than the message
        b"\x18\x01",  # block_response as a varint
        b"\x1a\x02\x08\x01",  # BlockResponse.block as a varint
        b"\x1a\x04\x0a\x02\x20\x01",  # Block.last_commit as a varint
        b"\x1a\x06\x0a\x04\x22\x02\x20\x01",  # Commit.signatures as a varint
        b"\x1a\x02\x10\x01",  # BlockResponse.ext_commit as a varint
        b"\x0c",  # end group outside a group
        b"\x0b\x08\x01",  # group never closed
        b"\x0b\x14",  # group closed with another field number
        b"\x0e\x00",  # wire type 6
        b"\x00\x00",  # field number 0
        b"\x0b" * 200,  # groups nested deeper than any parser allows
    ],
)
def test_malformed_bytes_are_rejected_not_crashing(data: bytes) -> None:
    with pytest.raises(FilterRejected, match="malformed blocksync message from peer p"):
        syncing("p").check(BLOCKSYNC_CHANNEL, "p", data)


def test_unknown_fields_and_groups_on_the_path_are_skipped() -> None:
    """A group, fixed32/64 and varint fields next to the signatures do not count and do not break parsing."""
    commit = b"\x08\x05" + b"\x22\x00" * 3 + b"\x2b\x08\x01\x2c" + b"\x31" + bytes(8) + b"\x3d" + bytes(4)
    block = b"\x22" + bytes([len(commit)]) + commit
    response = b"\x0a" + bytes([len(block)]) + block
    data = b"\x1a" + bytes([len(response)]) + response
    assert count_block_response_signatures(data) == SignatureCount(commit=3, extended=0)


def test_non_block_response_messages_pass_in_every_state() -> None:
    for state in SyncState:
        pool_state(state, set()).check(BLOCKSYNC_CHANNEL, "p", b"\x22\x00")


def test_million_signatures_are_rejected_without_materialising_them() -> None:
    """Python's version of TestStubUnmarshalAllocs: memory stays flat whatever the count."""
    entry = b"\x22\x00"
    commit = entry * 1_000_000
    block = b"\x22" + uvarint(len(commit)) + commit
    response = b"\x0a" + uvarint(len(block)) + block
    data = b"\x1a" + uvarint(len(response)) + response
    tracemalloc.start()
    try:
        with pytest.raises(FilterRejected, match="too many commit signatures"):
            syncing("p").check(BLOCKSYNC_CHANNEL, "p", data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024
