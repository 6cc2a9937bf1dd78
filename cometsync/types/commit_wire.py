"""A received commit's signatures read straight from its wire bytes, when those are canonical.

Decoding a CommitSig from the parsed proto and re-encoding it (for the commit hash and the canonical-bytes
check) costs two passes of per-field Python per validator. Honest CometBFT nodes write every signature in
one of two fixed layouts, so one regex match per signature both decodes it and proves that its bytes are
exactly what `CommitSig.encode` would produce; anything else (absent fields, odd lengths, negative or
non-minimal varints, unknown fields) returns None and the caller takes the proto path.
"""

from __future__ import annotations

import re

from cometsync.proto.tendermint.types import types_pb2
from cometsync.types.block_id import BlockID
from cometsync.types.commit import BlockIDFlag, Commit, CommitSig, encoded_commit_head
from cometsync.types.slots import new_instance, slot_setters
from cometsync.types.timestamp import Timestamp

_SIGNATURES_TAG = 0x22
_ABSENT = CommitSig.absent()
_ABSENT_BYTES = _ABSENT.encode()
_PRESENT_SIG = re.compile(
    rb"\x08([\x02\x03])"  # block_id_flag: COMMIT or NIL
    rb"\x12\x14(.{20})"  # a 20-byte validator address
    rb"\x1a[\x00-\x7f]"  # the timestamp's length: checked against the signature's length
    rb"(?:\x08([\x80-\xff]{0,8}[\x01-\x7f]))?"  # seconds: positive int64, minimal varint
    rb"(?:\x10([\x80-\xff]{0,3}[\x01-\x7f]|[\x80-\xff]{4}[\x01-\x07]))?"  # nanos: positive int32, minimal
    rb"\x22\x40(.{64})",  # a 64-byte signature
    re.DOTALL,
)
_FIXED_PRESENT_SIZE = 2 + 22 + 2 + 66
"""Bytes of a present signature besides the timestamp's body (flag, address, timestamp key+length, sig)."""
_TIMESTAMP_LENGTH_AT = 2 + 22 + 1
_FLAGS = {b"\x02": BlockIDFlag.COMMIT, b"\x03": BlockIDFlag.NIL}
_set_flag, _set_address, _set_timestamp, _set_signature = slot_setters(
    CommitSig, "block_id_flag", "validator_address", "timestamp", "signature"
)
_set_seconds, _set_nanos = slot_setters(Timestamp, "seconds", "nanos")


def _uvarint_value(raw: bytes) -> int:
    """The value of a varint already known to be well formed and at most nine bytes."""
    value = 0
    for byte in reversed(raw):
        value = value << 7 | byte & 0x7F
    return value


def canonical_signatures(data: bytes, pos: int, end: int) -> tuple[list[CommitSig], list[bytes]] | None:
    """The `signatures` fields that fill `data[pos:end]` and their encodings (slices of `data`), or None
    unless every one is canonical and in a layout this reader knows."""
    sigs: list[CommitSig] = []
    encodings: list[bytes] = []
    add_sig, add_encoding = sigs.append, encodings.append
    match = _PRESENT_SIG.fullmatch
    seconds_of: dict[bytes, int] = {}  # the votes of one commit mostly share their second
    while pos < end:
        if data[pos] != _SIGNATURES_TAG or pos + 1 >= end:
            return None
        length = data[pos + 1]
        start = pos + 2
        pos = start + length
        if length >= 0x80 or pos > end:
            return None
        encoded = data[start:pos]
        if encoded == _ABSENT_BYTES:
            add_sig(_ABSENT)
            add_encoding(encoded)
            continue
        found = match(encoded)
        if found is None or encoded[_TIMESTAMP_LENGTH_AT] != length - _FIXED_PRESENT_SIZE:
            return None
        flag, address, seconds_raw, nanos_raw, signature = found.groups()
        seconds = 0
        if seconds_raw is not None:
            seconds = seconds_of.get(seconds_raw, -1)
            if seconds < 0:
                seconds = seconds_of[seconds_raw] = _uvarint_value(seconds_raw)
        stamp = new_instance(Timestamp)  # both built through their slots (`slots.py`): a third less time
        _set_seconds(stamp, seconds)
        _set_nanos(stamp, 0 if nanos_raw is None else _uvarint_value(nanos_raw))
        sig = new_instance(CommitSig)
        _set_flag(sig, _FLAGS[flag])
        _set_address(sig, address)
        _set_timestamp(sig, stamp)
        _set_signature(sig, signature)
        add_sig(sig)
        add_encoding(encoded)
    return sigs, encodings


def commit_from_canonical(pb: types_pb2.Commit, data: bytes, start: int, end: int) -> Commit | None:
    """`Commit.from_proto(pb)` where `pb` was parsed from `data[start:end]`: the signatures are read from
    those bytes, which are kept as the commit's encoding. None when the bytes are not canonical."""
    block_id = BlockID.from_proto(pb.block_id)
    head = encoded_commit_head(pb.height, pb.round, block_id)
    if not data.startswith(head, start):
        return None
    decoded = canonical_signatures(data, start + len(head), end)
    if decoded is None:
        return None
    sigs, encodings = decoded
    return Commit.with_encoding(pb.height, pb.round, block_id, tuple(sigs), tuple(encodings), data[start:end])
