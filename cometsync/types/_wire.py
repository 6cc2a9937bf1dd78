"""Hand-written protobuf primitives for the few encodings on hot paths (sign bytes, header leaves).

Building these bytes directly avoids constructing protobuf messages per signature or per leaf.
"""

from __future__ import annotations

import struct

_INT64_MASK = (1 << 64) - 1


def uvarint(value: int) -> bytes:
    """Unsigned LEB128; negative int64 values are encoded as their 64-bit two's complement (proto int64)."""
    value &= _INT64_MASK
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def varint_field(number: int, value: int) -> bytes:
    """A varint field, omitted when zero (proto3 scalar rule)."""
    if value == 0:
        return b""
    return uvarint(number << 3) + uvarint(value)


def sfixed64_field(number: int, value: int) -> bytes:
    """An sfixed64 field, omitted when zero."""
    if value == 0:
        return b""
    return uvarint((number << 3) | 1) + struct.pack("<q", value)


def bytes_field(number: int, value: bytes) -> bytes:
    """A length-delimited field, omitted when empty (scalars: bytes and strings)."""
    if not value:
        return b""
    return message_field(number, value)


def message_field(number: int, encoded: bytes) -> bytes:
    """A length-delimited sub-message that is always emitted (gogoproto non-nullable)."""
    return uvarint((number << 3) | 2) + uvarint(len(encoded)) + encoded


def length_delimited(encoded: bytes) -> bytes:
    """`protoio.MarshalDelimited`: uvarint length prefix then the message."""
    return uvarint(len(encoded)) + encoded


def zigzag_varint(value: int) -> bytes:
    """Go's `binary.PutVarint` (zig-zag) encoding of a signed integer."""
    return uvarint((value << 1) ^ (value >> 63))
