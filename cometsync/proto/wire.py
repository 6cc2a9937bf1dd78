"""The protobuf wire format by hand, for the few hot or pre-decode paths that must not build messages.

Encoders produce gogoproto-exact bytes (sign bytes, header leaves, hashes); the field walker lets the
blocksync filter count signatures in untrusted bytes without materialising them.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import NamedTuple

WIRE_VARINT = 0
WIRE_FIXED64 = 1
WIRE_LEN = 2
WIRE_START_GROUP = 3
WIRE_END_GROUP = 4
WIRE_FIXED32 = 5
MAX_FIELD_NUMBER = (1 << 29) - 1
MAX_GROUP_DEPTH = 100

_INT64_MASK = (1 << 64) - 1
_ONE_BYTE = tuple(bytes((value,)) for value in range(0x80))


def uvarint(value: int) -> bytes:
    """Unsigned LEB128; negative int64 values are encoded as their 64-bit two's complement (proto int64).

    Up to five bytes are unrolled: tags, lengths, flags, heights and timestamps (every vote has one)."""
    if 0 <= value < 0x80:
        return _ONE_BYTE[value]
    if 0 < value < 0x800000000:
        low = value & 0x7F | 0x80
        if value < 0x4000:
            return bytes((low, value >> 7))
        if value < 0x200000:
            return bytes((low, value >> 7 & 0x7F | 0x80, value >> 14))
        if value < 0x10000000:
            return bytes((low, value >> 7 & 0x7F | 0x80, value >> 14 & 0x7F | 0x80, value >> 21))
        return bytes(
            (low, value >> 7 & 0x7F | 0x80, value >> 14 & 0x7F | 0x80, value >> 21 & 0x7F | 0x80, value >> 28)
        )
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


class WireFormatError(ValueError):
    """Bytes that do not follow the protobuf wire format."""


class WireField(NamedTuple):
    """One field as found on the wire; for length-delimited fields `start:end` is the payload."""

    number: int
    wire_type: int
    start: int
    end: int


_new_field = tuple.__new__
"""Builds a WireField without NamedTuple's Python-level `__new__`: one per signature in the filter's walk."""


def read_varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """Decode a base-128 varint at `pos`; returns (value, position after it)."""
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise WireFormatError("unexpected end of data inside a varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 64:
            raise WireFormatError("varint longer than 10 bytes")


def iter_fields(data: bytes, start: int = 0, end: int | None = None) -> Iterator[WireField]:
    """Walk the fields of one message in `data[start:end]` without decoding their contents.

    Groups are skipped (yielded as one field spanning their contents), as protobuf parsers do for
    unknown fields; malformed input raises WireFormatError.
    """
    stop = len(data) if end is None else end
    pos = start
    while pos < stop:
        tag = data[pos]
        if 0x08 <= tag < 0x80:  # one-byte tag, the common case, decoded inline for speed
            number, wire_type, pos = tag >> 3, tag & 7, pos + 1
        else:
            number, wire_type, pos = _read_tag(data, pos, stop)
        if wire_type == WIRE_LEN:
            if pos < stop and data[pos] < 0x80:
                length, value_start = data[pos], pos + 1
            else:
                length, value_start = read_varint(data, pos, stop)
            pos = value_start + length
            if pos > stop:
                raise WireFormatError(f"field {number} runs past the end of its message")
        else:
            value_start = pos
            pos = _skip_value(data, pos, stop, number, wire_type, 0)
        yield _new_field(WireField, (number, wire_type, value_start, pos))


def _read_tag(data: bytes, pos: int, stop: int) -> tuple[int, int, int]:
    """(field number, wire type, position after the tag)."""
    tag, pos = read_varint(data, pos, stop)
    number = tag >> 3
    if number == 0 or number > MAX_FIELD_NUMBER:
        raise WireFormatError(f"illegal field number {number}")
    return number, tag & 7, pos


def _skip_value(data: bytes, pos: int, stop: int, number: int, wire_type: int, depth: int) -> int:
    """Position after the value of a field whose tag ended at `pos`."""
    if wire_type == WIRE_VARINT:
        return read_varint(data, pos, stop)[1]
    if wire_type == WIRE_LEN:
        length, pos = read_varint(data, pos, stop)
        pos += length
    elif wire_type == WIRE_FIXED64:
        pos += 8
    elif wire_type == WIRE_FIXED32:
        pos += 4
    elif wire_type == WIRE_START_GROUP:
        return _skip_group(data, pos, stop, number, depth + 1)
    elif wire_type == WIRE_END_GROUP:
        raise WireFormatError(f"end group for field {number} outside a group")
    else:
        raise WireFormatError(f"illegal wire type {wire_type} for field {number}")
    if pos > stop:
        raise WireFormatError(f"field {number} runs past the end of its message")
    return pos


def _skip_group(data: bytes, pos: int, stop: int, number: int, depth: int) -> int:
    """Position after the end-group tag closing group `number` (whose contents start at `pos`)."""
    if depth > MAX_GROUP_DEPTH:
        raise WireFormatError(f"groups nested deeper than {MAX_GROUP_DEPTH}")
    while True:
        inner, wire_type, pos = _read_tag(data, pos, stop)
        if wire_type == WIRE_END_GROUP:
            if inner != number:
                raise WireFormatError(f"group {number} closed as group {inner}")
            return pos
        pos = _skip_value(data, pos, stop, inner, wire_type, depth)
