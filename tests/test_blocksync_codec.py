"""Blocksync wire codec: CometBFT's byte vectors, real wire messages, ValidateMsg, garbage handling."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from cometsync.blocksync import codec
from cometsync.blocksync.codec import (
    BlockRequest,
    BlockResponse,
    BlocksyncMessage,
    MessageDecodeError,
    MessageValidationError,
    NoBlockResponse,
    StatusRequest,
    StatusResponse,
    decode,
    encode,
    validate,
)
from cometsync.proto.tendermint.types import block_pb2, types_pb2

DATA = Path(__file__).parent / "data"
LOCALNET = DATA / "cometbft-v0.38.25-localnet"
VOTEEXT = DATA / "cometbft-v0.38.25-voteext"
WIRE_VECTORS = json.loads((DATA / "cometbft-v0.38" / "proto_wire_vectors.json").read_text())
VECTORS = WIRE_VECTORS["blocksync"]["vectors"]
GO_ZERO_TIME_SECONDS = -62135596800
MAX_INT64 = 2**63 - 1


def hello_world_block() -> block_pb2.Block:
    """types.MakeBlock(3, ["Hello World"]) with Version.Block = 11, as in TestBlocksyncMessageVectors."""
    block = block_pb2.Block()
    header = block.header
    header.version.block = 11
    header.height = 3
    header.time.seconds = GO_ZERO_TIME_SECONDS
    header.last_block_id.part_set_header.SetInParent()
    header.data_hash = bytes.fromhex("C4DA88E876062AA1543400D50D0EAA0DAC88096057949CFB7BCA7F3A48C04BF9")
    header.evidence_hash = bytes.fromhex("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855")
    block.data.txs.append(base64.b64decode("SGVsbG8gV29ybGQ="))
    block.evidence.SetInParent()
    return block


def message_from_vector(vector: dict[str, Any]) -> BlocksyncMessage:
    [(kind, fields)] = vector["message"].items()
    if kind == "BlockRequest":
        return BlockRequest(fields["height"])
    if kind == "NoBlockResponse":
        return NoBlockResponse(fields["height"])
    if kind == "StatusRequest":
        return StatusRequest()
    if kind == "StatusResponse":
        return StatusResponse(height=fields["height"], base=fields["base"])
    assert kind == "BlockResponse"
    return BlockResponse.from_block(hello_world_block())


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_encode_matches_cometbft_vectors(vector: dict[str, Any]) -> None:
    assert encode(message_from_vector(vector)).hex() == vector["expected_hex"]


VALID_VECTORS = [v for v in VECTORS if v["name"] != "StatusResponseMessage"]


@pytest.mark.parametrize("vector", VALID_VECTORS, ids=[v["name"] for v in VALID_VECTORS])
def test_decode_of_cometbft_vectors_round_trips(vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["expected_hex"])
    message = decode(data)
    assert message == message_from_vector(vector)
    assert encode(message) == data


def test_status_response_vector_with_base_above_height_is_rejected_on_decode() -> None:
    with pytest.raises(MessageValidationError, match="base 2 cannot be greater than height"):
        decode(bytes.fromhex("2a0408011002"))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("block_request_1.pb", BlockRequest(1)),
        ("no_block_response_311.pb", NoBlockResponse(311)),
        ("status_request.pb", StatusRequest()),
        ("status_response_base1_height310.pb", StatusResponse(height=310, base=1)),
    ],
)
def test_real_small_messages_from_cometbft(name: str, expected: BlocksyncMessage) -> None:
    data = (LOCALNET / "wire" / name).read_bytes()
    assert decode(data) == expected
    assert encode(expected) == data


@pytest.mark.parametrize("height", [2, 62])
def test_real_block_response_keeps_the_block_bytes_as_sent(height: int) -> None:
    data = (LOCALNET / "wire" / f"block_response_{height}.pb").read_bytes()
    message = decode(data)
    assert isinstance(message, BlockResponse)
    assert message.block_bytes == (LOCALNET / "blocks" / f"{height}.pb").read_bytes()
    assert message.block.header.height == height
    assert message.ext_commit is None
    assert encode(message) == data
    assert encode(BlockResponse.from_block(message.block)) == data


def test_real_block_response_with_extended_commit() -> None:
    data = (VOTEEXT / "wire" / "block_response_5.pb").read_bytes()
    message = decode(data)
    assert isinstance(message, BlockResponse)
    assert message.block_bytes == (VOTEEXT / "blocks" / "5.pb").read_bytes()
    extended = types_pb2.ExtendedCommit.FromString((VOTEEXT / "extcommits" / "5.pb").read_bytes())
    assert message.ext_commit == extended
    assert len(extended.extended_signatures) == 4
    assert encode(message) == data
    assert encode(BlockResponse.from_block_bytes(message.block_bytes, extended)) == data


def test_empty_ext_commit_stays_present() -> None:
    message = BlockResponse.from_block(hello_world_block(), types_pb2.ExtendedCommit())
    decoded = decode(encode(message))
    assert isinstance(decoded, BlockResponse)
    assert decoded.ext_commit == types_pb2.ExtendedCommit()
    assert encode(message).endswith(b"\x12\x00")


def test_merged_block_response_copies_get_consistent_block_bytes() -> None:
    """Two BlockResponse copies merge (protobuf semantics); block_bytes must still describe `block`."""
    first = block_pb2.Block()
    first.header.height = 7
    second = block_pb2.Block()
    second.header.chain_id = "merged"
    data = encode(BlockResponse.from_block(first)) + encode(BlockResponse.from_block(second))
    message = decode(data)
    assert isinstance(message, BlockResponse)
    assert (message.block.header.height, message.block.header.chain_id) == (7, "merged")
    assert block_pb2.Block.FromString(message.block_bytes) == message.block


@pytest.mark.parametrize(
    "message",
    [BlockRequest(0), BlockRequest(1), NoBlockResponse(0), NoBlockResponse(1), StatusRequest()]
    + [StatusResponse(height=h, base=b) for h, b in [(0, 0), (1, 0), (1, 1), (MAX_INT64, MAX_INT64)]],
)
def test_validate_accepts(message: BlocksyncMessage) -> None:
    validate(message)
    assert decode(encode(message)) == message


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (BlockRequest(-1), "negative height"),
        (NoBlockResponse(-1), "negative height"),
        (StatusResponse(height=-1, base=0), "negative height"),
        (StatusResponse(height=-1, base=-1), "negative base"),
        (StatusResponse(height=5, base=-1), "negative base"),
        (StatusResponse(height=5, base=6), "base 6 cannot be greater than height"),
    ],
)
def test_validate_rejects_like_cometbft(message: BlocksyncMessage, reason: str) -> None:
    with pytest.raises(MessageValidationError, match=reason):
        validate(message)
    with pytest.raises(MessageDecodeError, match=reason):
        decode(encode(message))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty or unknown"),
        (b"\x32\x00", "empty or unknown"),  # field 6: not a oneof case we know
        (b"\xff", "malformed"),
        (b"\x0a\x05\x08", "malformed"),
        (b"\x1a\x03\x0a\x05\x00", "malformed"),
        (b"\x0f", "malformed"),
    ],
)
def test_garbage_raises_message_decode_error(data: bytes, reason: str) -> None:
    with pytest.raises(MessageDecodeError, match=reason):
        decode(data)


def test_from_block_bytes_rejects_garbage() -> None:
    with pytest.raises(MessageDecodeError, match="malformed block"):
        BlockResponse.from_block_bytes(b"\x0a\x05")


def test_encode_refuses_other_objects() -> None:
    with pytest.raises(TypeError, match="not a blocksync message"):
        encode("BlockRequest")  # type: ignore[arg-type]


def test_channel_constants_match_cometbft() -> None:
    assert codec.BLOCKSYNC_CHANNEL == 0x40
    assert (codec.CHANNEL_PRIORITY, codec.SEND_QUEUE_CAPACITY) == (5, 1000)
    assert codec.RECV_BUFFER_CAPACITY == 204_800
    assert codec.MAX_MSG_SIZE == 104_857_605
    assert codec.MAX_VOTES_COUNT == 10_000
