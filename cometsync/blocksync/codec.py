"""The blocksync channel's wire codec: `tendermint.blocksync.Message` <-> typed Python messages.

Sans-IO: bytes in, messages out. `decode` also applies CometBFT's stateless `ValidateMsg`, so the reactor
can treat every `MessageDecodeError` as "stop this peer". A BlockResponse keeps the block's serialized
bytes next to the decoded proto: part sets are built from those bytes, and serving a stored block needs
no re-encoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from cometsync.proto.tendermint.blocksync import types_pb2 as bs_pb2
from cometsync.proto.tendermint.types import block_pb2, types_pb2
from cometsync.proto.wire import iter_fields, message_field

BLOCKSYNC_CHANNEL = 0x40
CHANNEL_PRIORITY = 5
SEND_QUEUE_CAPACITY = 1000
RECV_BUFFER_CAPACITY = 50 * 4096
MAX_BLOCK_SIZE_BYTES = 104_857_600
MAX_MSG_SIZE = MAX_BLOCK_SIZE_BYTES + 4 + 1
"""RecvMessageCapacity of the channel: the largest block plus BlockResponse's prefix and field key."""
MAX_VOTES_COUNT = 10_000
"""Most signatures a (extended) commit may carry."""
EXT_COMMIT_ALLOWANCE = 8 * 1024 * 1024
"""Room for the extended commit next to a block of the chain's `block.max_bytes` (vote extensions)."""


def max_message_size(block_max_bytes: int) -> int:
    """Largest BlockResponse an honest peer sends on a chain whose `block.max_bytes` is given (-1: none).

    CometBFT's channel always allows MAX_MSG_SIZE (100 MiB); a committed block never exceeds its
    chain's max_bytes, so the rest only buys an attacker memory.
    """
    if block_max_bytes <= 0:
        return MAX_MSG_SIZE
    return min(MAX_MSG_SIZE, block_max_bytes + EXT_COMMIT_ALLOWANCE)


_BLOCK_RESPONSE_FIELD = 3
_BLOCK_FIELD = 1
_EXT_COMMIT_FIELD = 2


class MessageDecodeError(ValueError):
    """Bytes from a peer are not a valid blocksync message (the peer should be stopped)."""


class MessageValidationError(MessageDecodeError):
    """A well-formed message breaks a stateless rule (negative height, base above height)."""


@dataclass(frozen=True)
class BlockRequest:
    """Ask a peer for the block at `height`."""

    height: int


@dataclass(frozen=True)
class NoBlockResponse:
    """The peer does not have the block at `height`."""

    height: int


@dataclass(frozen=True)
class StatusRequest:
    """Ask a peer for the range of blocks it stores."""


@dataclass(frozen=True)
class StatusResponse:
    """The peer stores blocks `base..height`."""

    height: int
    base: int


@dataclass(frozen=True)
class BlockResponse:
    """A block (plus, with vote extensions, its extended commit).

    `block_bytes` is the serialized `block`; build instances with `from_block` or `from_block_bytes`
    so the two always agree. `ext_commit` is None when the field is absent on the wire.
    """

    block: block_pb2.Block
    block_bytes: bytes = field(repr=False)
    ext_commit: types_pb2.ExtendedCommit | None = None

    @classmethod
    def from_block(
        cls, block: block_pb2.Block, ext_commit: types_pb2.ExtendedCommit | None = None
    ) -> BlockResponse:
        return cls(block, block.SerializeToString(deterministic=True), ext_commit)

    @classmethod
    def from_block_bytes(
        cls, block_bytes: bytes, ext_commit: types_pb2.ExtendedCommit | None = None
    ) -> BlockResponse:
        """Wrap a block already serialized (e.g. loaded from the block store); raises MessageDecodeError."""
        try:
            block = block_pb2.Block.FromString(block_bytes)
        except DecodeError as exc:
            raise MessageDecodeError(f"malformed block: {exc}") from exc
        return cls(block, bytes(block_bytes), ext_commit)


BlocksyncMessage = BlockRequest | NoBlockResponse | BlockResponse | StatusRequest | StatusResponse


def encode(message: BlocksyncMessage) -> bytes:
    """Serialize as a `tendermint.blocksync.Message`, byte-identical to CometBFT."""
    if isinstance(message, BlockResponse):
        ext = message.ext_commit
        return encode_block_response(
            message.block_bytes, None if ext is None else ext.SerializeToString(deterministic=True)
        )
    data: bytes = _to_proto(message).SerializeToString(deterministic=True)
    return data


def encode_block_response(block_bytes: bytes, ext_commit_bytes: bytes | None = None) -> bytes:
    """A BlockResponse from already serialized parts (e.g. as stored), without decoding them."""
    body = message_field(_BLOCK_FIELD, block_bytes)
    if ext_commit_bytes is not None:
        body += message_field(_EXT_COMMIT_FIELD, ext_commit_bytes)
    return message_field(_BLOCK_RESPONSE_FIELD, body)


def decode(data: bytes) -> BlocksyncMessage:
    """Parse and statelessly validate one blocksync message; raises MessageDecodeError."""
    try:
        wrapper = bs_pb2.Message.FromString(data)
    except DecodeError as exc:
        raise MessageDecodeError(f"malformed blocksync message: {exc}") from exc
    kind = wrapper.WhichOneof("sum")
    if kind is None:
        raise MessageDecodeError("empty or unknown blocksync message")
    message: BlocksyncMessage
    if kind == "block_request":
        message = BlockRequest(wrapper.block_request.height)
    elif kind == "no_block_response":
        message = NoBlockResponse(wrapper.no_block_response.height)
    elif kind == "status_request":
        message = StatusRequest()
    elif kind == "status_response":
        message = StatusResponse(wrapper.status_response.height, wrapper.status_response.base)
    else:
        message = _block_response(wrapper.block_response, data)
    validate(message)
    return message


def validate(message: BlocksyncMessage) -> None:
    """CometBFT's `ValidateMsg`: heights and bases are non-negative and base <= height."""
    if isinstance(message, BlockRequest | NoBlockResponse) and message.height < 0:
        raise MessageValidationError(f"invalid height {message.height}: negative height")
    if isinstance(message, StatusResponse):
        if message.base < 0:
            raise MessageValidationError(f"invalid base {message.base}: negative base")
        if message.height < 0:
            raise MessageValidationError(f"invalid height {message.height}: negative height")
        if message.base > message.height:
            raise MessageValidationError(
                f"invalid height {message.height}: base {message.base} cannot be greater than height"
            )


def _to_proto(message: BlocksyncMessage) -> bs_pb2.Message:
    if isinstance(message, BlockRequest):
        return bs_pb2.Message(block_request=bs_pb2.BlockRequest(height=message.height))
    if isinstance(message, NoBlockResponse):
        return bs_pb2.Message(no_block_response=bs_pb2.NoBlockResponse(height=message.height))
    if isinstance(message, StatusRequest):
        return bs_pb2.Message(status_request=bs_pb2.StatusRequest())
    if isinstance(message, StatusResponse):
        return bs_pb2.Message(status_response=bs_pb2.StatusResponse(height=message.height, base=message.base))
    raise TypeError(f"not a blocksync message: {message!r}")


def _block_response(proto: bs_pb2.BlockResponse, data: bytes) -> BlockResponse:
    """Keep the block's bytes as received when the message holds exactly one copy of them."""
    ext_commit = proto.ext_commit if proto.HasField("ext_commit") else None
    raw = _sole_block_slice(data)
    if raw is None:
        return BlockResponse.from_block(proto.block, ext_commit)
    return BlockResponse(proto.block, raw, ext_commit)


def _sole_block_slice(data: bytes) -> bytes | None:
    """The bytes of `block_response.block` if both fields occur once (no proto merging took place)."""
    responses = [f for f in iter_fields(data) if f.number == _BLOCK_RESPONSE_FIELD]
    if len(responses) != 1:
        return None
    response = responses[0]
    blocks = [f for f in iter_fields(data, response.start, response.end) if f.number == _BLOCK_FIELD]
    if len(blocks) != 1:
        return None
    return data[blocks[0].start : blocks[0].end]
