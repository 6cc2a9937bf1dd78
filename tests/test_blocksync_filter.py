"""Pre-decode filter: CometBFT v0.38.25's TestFilterMsgBytes rows (adapted: an unasked response is a
strike, not a disconnect), per-(peer, height) solicitation, strike budgets and the decode budgets."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from state_fixtures import LOCALNET, VOTEEXT

from cometsync.blocksync.codec import BLOCKSYNC_CHANNEL, MAX_MSG_SIZE, MAX_VOTES_COUNT, BlockRequest, encode
from cometsync.blocksync.msg_filter import (
    DECODE_FACTOR,
    ELEMENT_OVERHEAD,
    FREE_ELEMENTS,
    LATE_AFTER_SWITCH_BUDGET,
    SMALL_MESSAGE_MAX,
    UNSOLICITED_BUDGET,
    FilterRejected,
    MsgBytesFilter,
    SyncState,
    Verdict,
    element_allowance,
    read_head,
    read_prefix,
)
from cometsync.proto.tendermint.blocksync import types_pb2 as bs_pb2
from cometsync.proto.tendermint.types import block_pb2, evidence_pb2, types_pb2, validator_pb2
from cometsync.proto.wire import message_field, uvarint

EXPECTED = "expected"
UNEXPECTED = "unexpected"
HEIGHT = 5
ABSENT = validator_pb2.BLOCK_ID_FLAG_ABSENT


def response(block: block_pb2.Block | None = None, ext: types_pb2.ExtendedCommit | None = None) -> bytes:
    block = block if block is not None else block_pb2.Block()
    block.header.height = block.header.height or HEIGHT
    message = bs_pb2.BlockResponse(block=block)
    if ext is not None:
        message.ext_commit.CopyFrom(ext)
    return bytes(bs_pb2.Message(block_response=message).SerializeToString())


def with_sigs(commit_sigs: int, ext_sigs: int) -> bytes:
    """Like the Go helper: a block whose last_commit has `commit_sigs` ABSENT sigs, and an ext commit."""
    commit = types_pb2.Commit(signatures=[types_pb2.CommitSig(block_id_flag=ABSENT)] * commit_sigs)
    extended = types_pb2.ExtendedCommit(
        extended_signatures=[types_pb2.ExtendedCommitSig(block_id_flag=ABSENT)] * ext_sigs
    )
    return response(block_pb2.Block(last_commit=commit), extended)


def asked(state: SyncState, *peers: str) -> MsgBytesFilter:
    """A filter whose pool asked each of `peers` for HEIGHT."""
    owed = {(peer, HEIGHT) for peer in peers}
    return MsgBytesFilter(lambda peer, height: (peer, height) in owed, state)


def syncing(*peers: str) -> MsgBytesFilter:
    return asked(SyncState.ACTIVE, *peers)


DELIVER, DROP = Verdict.DELIVER, Verdict.DROP
Outcome = Verdict | str

CASES: list[tuple[str, Callable[[], MsgBytesFilter], int, str, Callable[[], bytes], Outcome]] = [
    (
        "rejects BlockResponse when blocksync never ran",
        lambda: asked(SyncState.INACTIVE),
        BLOCKSYNC_CHANNEL,
        UNEXPECTED,
        response,
        "blocksync not active",
    ),
    (
        "drops late BlockResponse after pool stops for consensus switch",
        lambda: asked(SyncState.STOPPED_AFTER_SWITCH),
        BLOCKSYNC_CHANNEL,
        UNEXPECTED,
        response,
        DROP,
    ),
    (
        "rejects oversized BlockResponse after pool stops for consensus switch",
        lambda: asked(SyncState.STOPPED_AFTER_SWITCH),
        BLOCKSYNC_CHANNEL,
        UNEXPECTED,
        lambda: with_sigs(MAX_VOTES_COUNT + 1, 0),
        "too many commit signatures",
    ),
    (
        "drops unsolicited BlockResponse with no requesters",
        syncing,
        BLOCKSYNC_CHANNEL,
        UNEXPECTED,
        response,
        DROP,
    ),
    (
        "drops BlockResponse from peer we did not request from",
        lambda: syncing(EXPECTED),
        BLOCKSYNC_CHANNEL,
        UNEXPECTED,
        response,
        DROP,
    ),
    (
        "allows BlockResponse from solicited peer",
        lambda: syncing(EXPECTED),
        BLOCKSYNC_CHANNEL,
        EXPECTED,
        response,
        DELIVER,
    ),
    (
        "allows non-BlockResponse messages even when disabled",
        syncing,
        BLOCKSYNC_CHANNEL,
        "any",
        lambda: encode(BlockRequest(1)),
        DELIVER,
    ),
    ("ignores other channels", syncing, 0x20, "any", response, DELIVER),
    ("ignores empty bytes", syncing, BLOCKSYNC_CHANNEL, "any", lambda: b"", DELIVER),
    (
        "allows BlockResponse at MaxVotesCount commit signatures",
        lambda: syncing(EXPECTED),
        BLOCKSYNC_CHANNEL,
        EXPECTED,
        lambda: with_sigs(MAX_VOTES_COUNT, 0),
        DELIVER,
    ),
    (
        "rejects BlockResponse exceeding commit signature cap",
        lambda: syncing(EXPECTED),
        BLOCKSYNC_CHANNEL,
        EXPECTED,
        lambda: with_sigs(MAX_VOTES_COUNT + 1, 0),
        "too many commit signatures",
    ),
    (
        "rejects BlockResponse exceeding extended commit signature cap",
        lambda: syncing(EXPECTED),
        BLOCKSYNC_CHANNEL,
        EXPECTED,
        lambda: with_sigs(0, MAX_VOTES_COUNT + 1),
        "too many extended commit signatures",
    ),
    (
        "rejects BlockResponse split across two concatenated copies",
        lambda: syncing(EXPECTED),
        BLOCKSYNC_CHANNEL,
        EXPECTED,
        lambda: with_sigs(MAX_VOTES_COUNT // 2 + 1, 0) * 2,
        "non-canonical",
    ),
    (
        "rejects when a BlockRequest field precedes an oversized BlockResponse",
        lambda: syncing(EXPECTED),
        BLOCKSYNC_CHANNEL,
        EXPECTED,
        lambda: b"\x0a\x00" + with_sigs(MAX_VOTES_COUNT + 1, 0),
        "non-canonical",
    ),
]


@pytest.mark.parametrize(
    ("name", "make_filter", "channel", "peer", "make_bytes", "outcome"), CASES, ids=[c[0] for c in CASES]
)
def test_filter_msg_bytes(
    name: str,
    make_filter: Callable[[], MsgBytesFilter],
    channel: int,
    peer: str,
    make_bytes: Callable[[], bytes],
    outcome: Outcome,
) -> None:
    check = make_filter().check
    if isinstance(outcome, Verdict):
        assert check(channel, peer, make_bytes()) is outcome
        return
    with pytest.raises(FilterRejected) as info:
        check(channel, peer, make_bytes())
    assert outcome in info.value.reason


def test_solicitation_is_per_height_and_a_second_copy_is_a_strike() -> None:
    owed = {("p", HEIGHT)}
    msg_filter = MsgBytesFilter(lambda peer, height: (peer, height) in owed, SyncState.ACTIVE)
    other_height = block_pb2.Block()
    other_height.header.height = HEIGHT + 1
    assert msg_filter.check(BLOCKSYNC_CHANNEL, "p", response(other_height)) is DROP
    assert msg_filter.check(BLOCKSYNC_CHANNEL, "p", response()) is DELIVER
    assert msg_filter.check(BLOCKSYNC_CHANNEL, "p", response()) is DROP  # duplicate while being decoded
    msg_filter.release("p", HEIGHT)
    assert msg_filter.check(BLOCKSYNC_CHANNEL, "p", response()) is DELIVER
    assert msg_filter.strikes == {"p": 2}


def test_strike_budget_then_ban_and_forget_resets() -> None:
    msg_filter = syncing()
    for _ in range(UNSOLICITED_BUDGET):
        assert msg_filter.check(BLOCKSYNC_CHANNEL, "flood", response()) is DROP
    with pytest.raises(FilterRejected) as info:
        msg_filter.check(BLOCKSYNC_CHANNEL, "flood", response())
    assert info.value.ban and info.value.kind == "unsolicited"
    msg_filter.forget("flood")
    assert msg_filter.check(BLOCKSYNC_CHANNEL, "flood", response()) is DROP


def test_after_the_switch_late_answers_are_tolerated_up_to_a_budget() -> None:
    msg_filter = asked(SyncState.STOPPED_AFTER_SWITCH)
    for _ in range(LATE_AFTER_SWITCH_BUDGET):
        assert msg_filter.check(BLOCKSYNC_CHANNEL, "p", response()) is DROP
    with pytest.raises(FilterRejected, match="after the switch"):
        msg_filter.check(BLOCKSYNC_CHANNEL, "p", response())


def test_message_above_channel_capacity_is_rejected_before_parsing() -> None:
    data = b"\x0a\x00" * (MAX_MSG_SIZE // 2 + 1)
    with pytest.raises(FilterRejected, match=f"exceeds {MAX_MSG_SIZE}"):
        syncing().check(BLOCKSYNC_CHANNEL, "p", data)


def test_padded_small_messages_are_rejected() -> None:
    status = bs_pb2.Message(status_response=bs_pb2.StatusResponse(height=1))
    status.status_response.base = 1
    assert syncing().check(BLOCKSYNC_CHANNEL, "p", bytes(status.SerializeToString())) is DELIVER
    inner = b"\x08\x01" + message_field(15, bytes(SMALL_MESSAGE_MAX))
    with pytest.raises(FilterRejected, match=f"exceeds {SMALL_MESSAGE_MAX}"):
        syncing().check(BLOCKSYNC_CHANNEL, "p", message_field(5, inner))


@pytest.mark.parametrize(
    "data",
    [
        b"\xff",  # tag varint never ends
        b"\x1a\x05\x0a",  # block_response longer than the message
        b"\x18\x01",  # block_response as a varint
        b"\x1a\x02\x08\x01",  # BlockResponse.block as a varint
        b"\x1a\x04\x0a\x02\x08\x01",  # Block.header as a varint
        b"\x1a\x06\x0a\x04\x0a\x02\x1a\x01",  # Header.height as a length-delimited field
        b"\x0c",  # end group outside a group
        b"\x0b\x08\x01",  # group never closed
        b"\x0e\x00",  # wire type 6
        b"\x00\x00",  # field number 0
        b"\x0b" * 200,  # groups nested deeper than any parser allows
    ],
)
def test_malformed_bytes_are_rejected_not_crashing(data: bytes) -> None:
    with pytest.raises(FilterRejected) as info:
        syncing("p").check(BLOCKSYNC_CHANNEL, "p", data)
    assert info.value.kind in ("malformed", "non_canonical")


def test_malformed_body_of_a_solicited_response_is_rejected() -> None:
    header = b"\x18" + uvarint(HEIGHT)
    block = message_field(1, header) + b"\x22\x02\x20\x01"  # Commit.signatures as a varint
    data = message_field(3, message_field(1, block))
    with pytest.raises(FilterRejected, match="malformed BlockResponse"):
        syncing("p").check(BLOCKSYNC_CHANNEL, "p", data)


def test_height_is_read_as_protobuf_does_last_value_wins() -> None:
    header = b"\x18\x07" + b"\x18" + uvarint(HEIGHT)
    data = message_field(3, message_field(1, message_field(1, header)))
    head = read_head(data)
    assert head.height == HEIGHT
    assert bs_pb2.Message.FromString(data).block_response.block.header.height == HEIGHT


@pytest.mark.parametrize(("folder", "height"), [(LOCALNET, 2), (LOCALNET, 62), (VOTEEXT, 5)])
def test_real_cometbft_block_responses_pass(folder: Path, height: int) -> None:
    data = (folder / "wire" / f"block_response_{height}.pb").read_bytes()
    owed = {("p", height)}
    msg_filter = MsgBytesFilter(lambda peer, h: (peer, h) in owed, SyncState.ACTIVE)
    assert read_head(data).height == height
    assert msg_filter.check(BLOCKSYNC_CHANNEL, "p", data) is DELIVER


def test_tx_bomb_is_rejected_before_protobuf_with_little_memory() -> None:
    """A block plus 500,000 empty txs (1 MB on the wire) would decode to ~100 MB; refused by the walk."""
    block = block_pb2.Block()
    block.header.height = HEIGHT
    body = bytes(block.SerializeToString())
    data_field = message_field(2, b"\x0a\x00" * 500_000)
    data = message_field(3, message_field(1, body + data_field))
    assert element_allowance(len(data)) < 500_000
    tracemalloc.start()
    try:
        with pytest.raises(FilterRejected, match="repeated elements") as info:
            syncing("p").check(BLOCKSYNC_CHANNEL, "p", data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.kind == "budget" and info.value.ban
    assert peak < 64 * 1024


def test_honest_shaped_blocks_within_the_element_allowance_pass() -> None:
    """FREE_ELEMENTS tiny txs always pass; beyond, txs must carry their decoded weight on the wire."""
    txs = [b"k=v"] * FREE_ELEMENTS
    block = block_pb2.Block(data=types_pb2.Data(txs=txs))
    assert syncing("p").check(BLOCKSYNC_CHANNEL, "p", response(block)) is DELIVER
    big = [bytes(ELEMENT_OVERHEAD // (DECODE_FACTOR - 1) + 8)] * (FREE_ELEMENTS * 2)
    assert (
        syncing("p").check(BLOCKSYNC_CHANNEL, "p", response(block_pb2.Block(data=types_pb2.Data(txs=big))))
        is DELIVER
    )


def test_evidence_signature_and_validator_bombs_are_rejected() -> None:
    commit = types_pb2.Commit(signatures=[types_pb2.CommitSig(block_id_flag=ABSENT)] * (MAX_VOTES_COUNT + 1))
    attack = evidence_pb2.LightClientAttackEvidence()
    attack.conflicting_block.signed_header.commit.CopyFrom(commit)
    block = block_pb2.Block()
    block.evidence.evidence.add(light_client_attack_evidence=attack)
    with pytest.raises(FilterRejected, match="too many evidence commit signatures"):
        syncing("p").check(BLOCKSYNC_CHANNEL, "p", response(block))
    attack = evidence_pb2.LightClientAttackEvidence(
        byzantine_validators=[validator_pb2.Validator(voting_power=1)] * (MAX_VOTES_COUNT + 1)
    )
    block = block_pb2.Block()
    block.evidence.evidence.add(light_client_attack_evidence=attack)
    with pytest.raises(FilterRejected, match="too many evidence validators"):
        syncing("p").check(BLOCKSYNC_CHANNEL, "p", response(block))


def test_million_signatures_are_rejected_without_materialising_them() -> None:
    """Python's version of TestStubUnmarshalAllocs: memory stays flat whatever the count."""
    commit = b"\x22\x00" * 1_000_000
    block = message_field(1, b"\x18" + uvarint(HEIGHT)) + message_field(4, commit)
    data = message_field(3, message_field(1, block))
    tracemalloc.start()
    try:
        with pytest.raises(FilterRejected, match="too many commit signatures"):
            syncing("p").check(BLOCKSYNC_CHANNEL, "p", data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024


def test_a_late_answer_to_our_own_request_is_dropped_without_a_strike_once() -> None:
    """A slow honest peer answers after the pool moved on (popped, retried elsewhere): never a strike."""
    msg_filter = syncing()  # the pool no longer expects anything
    msg_filter.requested("slow", HEIGHT)
    assert msg_filter.check(BLOCKSYNC_CHANNEL, "slow", response()) is Verdict.LATE
    assert msg_filter.strikes == {}
    assert msg_filter.check(BLOCKSYNC_CHANNEL, "slow", response()) is DROP
    assert msg_filter.strikes == {"slow": 1}


def test_peek_judges_a_long_response_from_its_first_kilobyte() -> None:
    data = (LOCALNET / "wire" / "block_response_62.pb").read_bytes()
    prefix = data[:1024]
    assert read_prefix(prefix) == (len(data), 62)
    owed = {("p", 62)}
    msg_filter = MsgBytesFilter(
        lambda peer, h: (peer, h) in owed, SyncState.ACTIVE, max_message_size=len(data)
    )
    assert msg_filter.peek("p", prefix) is DELIVER
    assert msg_filter.peek("stranger", prefix) is DROP
    msg_filter.requested("slow", 62)
    assert msg_filter.peek("slow", prefix) is Verdict.LATE
    small = MsgBytesFilter(lambda peer, h: True, SyncState.ACTIVE, max_message_size=len(data) - 1)
    with pytest.raises(FilterRejected, match="exceeds"):
        small.peek("p", prefix)


@pytest.mark.parametrize(
    "prefix", [b"", b"\x0a\x00", b"\x1a", b"\x1a\x80", b"\x1a\x05\x12\x00", b"\x1a\x05\x0a\x03\x0a"]
)
def test_peek_leaves_odd_prefixes_to_the_full_check(prefix: bytes) -> None:
    assert read_prefix(prefix) is None
    assert syncing().peek("p", prefix) is DELIVER


def test_peek_refuses_a_long_message_that_is_not_a_block_response() -> None:
    status_padded = b"\x2a" + uvarint(5000) + b"\x08\x01" + bytes(4998)
    with pytest.raises(FilterRejected, match="longer than"):
        syncing().peek("p", status_padded[:1024])
