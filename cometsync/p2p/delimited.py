"""Uvarint length prefixes, as CometBFT's protoio writes them in front of every protobuf message.

`DelimitedReader` is an incremental (sans-IO) parser: feed it stream bytes, pop whole messages.
"""

from __future__ import annotations

from cometsync.p2p.errors import DecodeError
from cometsync.proto.wire import length_delimited as delimit

MAX_VARINT_BYTES = 10

__all__ = ["DelimitedReader", "delimit"]


def _decode_uvarint(buf: bytearray, start: int) -> tuple[int, int] | None:
    """Return (value, next offset), or None if the varint is still incomplete."""
    value = 0
    shift = 0
    pos = start
    while pos < len(buf):
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if pos - start >= MAX_VARINT_BYTES:
            raise DecodeError("length prefix: varint overflows 64 bits")
    return None


class DelimitedReader:
    """Splits a byte stream into length-delimited messages no longer than `max_size` bytes."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._buf = bytearray()
        self._pos = 0

    def feed(self, data: bytes) -> None:
        if self._pos and self._pos >= len(self._buf) // 2:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def next_message(self) -> bytes | None:
        """The next whole message, or None until more bytes arrive; raises on an oversized prefix."""
        header = _decode_uvarint(self._buf, self._pos)
        if header is None:
            return None
        length, start = header
        if length > self.max_size:
            raise DecodeError(f"message of {length} bytes exceeds the limit of {self.max_size}")
        end = start + length
        if end > len(self._buf):
            return None
        self._pos = end
        return bytes(self._buf[start:end])

    def take_rest(self) -> bytes:
        """Hand over the unparsed bytes (the next protocol layer continues from here)."""
        rest = bytes(self._buf[self._pos :])
        self._buf = bytearray()
        self._pos = 0
        return rest

    @property
    def buffered(self) -> int:
        return len(self._buf) - self._pos
