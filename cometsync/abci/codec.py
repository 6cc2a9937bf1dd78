"""CometBFT's ABCI socket protocol without sockets: frames and the in-order pairing of responses.

A frame is a protobuf message prefixed by its length as an *unsigned* varint (`protoio.NewDelimitedWriter`
uses `binary.PutUvarint`). Requests are `tendermint.abci.Request`, answers `Response`, one per request and
in the order sent. The connection's glue feeds received bytes in and writes the bytes handed out.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from google.protobuf.message import DecodeError, Message

from cometsync.abci.errors import ABCIAppException, ABCIError, ABCIProtocolError
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.proto.wire import message_field

T = TypeVar("T")
M = TypeVar("M", bound=Message)

MAX_FRAME_BYTES = 256 * 1024 * 1024
"""Larger than any block CometBFT allows (max_block_bytes ≤ 100 MiB) with its FinalizeBlock response."""
MAX_VARINT_BYTES = 10


def encode_uvarint(value: int) -> bytes:
    """Go's `binary.PutUvarint`: 7 bits per byte, low bits first, high bit set on all but the last."""
    if value < 0:
        raise ValueError(f"a length prefix cannot be negative: {value}")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_frame(message: Message) -> bytes:
    payload: bytes = message.SerializeToString()
    return encode_uvarint(len(payload)) + payload


class FrameDecoder:
    """Splits a byte stream into frame payloads; raises `ABCIProtocolError` on a bad or oversized prefix.

    Memory stays bounded: a frame's bytes are kept only once its announced length is within the limit.
    """

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a whole frame (non-zero at a close means a truncated frame)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        frames: list[bytes] = []
        while (header := self._read_length()) is not None:
            prefix, length = header
            end = prefix + length
            if len(self._buffer) < end:
                break
            frames.append(bytes(self._buffer[prefix:end]))
            del self._buffer[:end]
        return frames

    def _read_length(self) -> tuple[int, int] | None:
        """(prefix bytes, payload length) of the first frame buffered; None while its prefix is partial."""
        value = 0
        for index, byte in enumerate(self._buffer[:MAX_VARINT_BYTES]):
            value |= (byte & 0x7F) << (7 * index)
            if byte < 0x80:
                if value > self.max_frame_bytes:
                    raise ABCIProtocolError(
                        f"ABCI message of {value} bytes exceeds the {self.max_frame_bytes}-byte limit"
                    )
                return index + 1, value
        if len(self._buffer) >= MAX_VARINT_BYTES:
            raise ABCIProtocolError("ABCI length prefix is longer than a 64-bit varint")
        return None


def parse(kind: type[M], payload: bytes) -> M:
    message: M = kind()
    try:
        message.ParseFromString(payload)
    except DecodeError as exc:
        raise ABCIProtocolError(f"undecodable ABCI {kind.__name__}: {exc}") from None
    return message


_REQUEST_FIELDS = {
    item.name: item.number for item in abci_pb2.Request.DESCRIPTOR.oneofs_by_name["value"].fields
}


def request_frame(method: str, request: Message) -> bytes:
    """The frame of `Request{<method>: request}`; `method` is the oneof field name (e.g. "finalize_block").

    The envelope's one field is written around the request's bytes: copying a FinalizeBlock request (every
    tx and vote) into a `Request` first would cost as much as encoding it."""
    number = _REQUEST_FIELDS.get(method)
    if number is None:
        raise ValueError(f"no ABCI request named {method!r}")
    payload = message_field(number, request.SerializeToString())
    return encode_uvarint(len(payload)) + payload


@dataclass
class Received(Generic[T]):
    """What one `ClientCodec.receive` produced: answers in order, then the error that ended the stream."""

    answers: list[tuple[T, Any]] = field(default_factory=list)
    error: ABCIError | None = None


class ClientCodec(Generic[T]):
    """The client half: `send` frames a request and remembers its token; `receive` pairs each response
    with the oldest unanswered request. After an error (exception reply, mismatch, garbage) the stream
    is unusable, as CometBFT's client stops for good.
    """

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self._frames = FrameDecoder(max_frame_bytes)
        self._pending: deque[tuple[str, T]] = deque()
        self.error: ABCIError | None = None

    def send(self, method: str, request: Message, token: T) -> bytes:
        self._pending.append((method, token))
        return request_frame(method, request)

    def receive(self, data: bytes) -> Received[T]:
        received: Received[T] = Received()
        if self.error is not None:
            received.error = self.error
            return received
        try:
            for payload in self._frames.feed(data):
                received.answers.append(self._answer(parse(abci_pb2.Response, payload)))
        except ABCIError as exc:
            self.error = received.error = exc
        return received

    def _answer(self, response: abci_pb2.Response) -> tuple[T, Any]:
        kind = response.WhichOneof("value")
        if kind == "exception":
            text = response.exception.error
            raise ABCIAppException(f"the app answered with an exception: {text}", text)
        if not self._pending:
            raise ABCIProtocolError(f"ABCI response {kind} arrived when no call was pending")
        method, token = self._pending[0]
        if kind != method:
            raise ABCIProtocolError(f"ABCI response {kind} does not answer the pending request {method}")
        self._pending.popleft()
        return token, getattr(response, method)

    @property
    def truncated(self) -> bool:
        """True when bytes of an incomplete frame are buffered (the peer closed mid-message)."""
        return self._frames.buffered > 0

    def drain(self) -> list[tuple[str, T]]:
        """Forget every unanswered request, returning them (the connection is gone)."""
        pending = list(self._pending)
        self._pending.clear()
        return pending
