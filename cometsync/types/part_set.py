"""Block part sets: a block's proto bytes cut into 64 KiB parts under one merkle root."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cometsync.proto.tendermint.types import types_pb2
from cometsync.types.block_id import PartSetHeader
from cometsync.types.errors import InvalidPartSet
from cometsync.types.merkle import Proof, hash_from_byte_slices, proofs_from_byte_slices

BLOCK_PART_SIZE = 65536
MAX_BLOCK_SIZE = 104857600
MAX_BLOCK_PARTS = MAX_BLOCK_SIZE // BLOCK_PART_SIZE + 1


@dataclass(frozen=True, slots=True)
class Part:
    index: int
    bytes: bytes
    proof: Proof

    def validate_basic(self) -> None:
        if len(self.bytes) > BLOCK_PART_SIZE:
            raise InvalidPartSet(f"part #{self.index} too big: {len(self.bytes)} > {BLOCK_PART_SIZE} bytes")
        if self.proof.index != self.index:
            raise InvalidPartSet(f"part #{self.index} carries a proof for index {self.proof.index}")

    def to_proto(self) -> types_pb2.Part:
        pb = types_pb2.Part(index=self.index, bytes=self.bytes)
        pb.proof.CopyFrom(self.proof.to_proto())
        return pb

    @classmethod
    def from_proto(cls, pb: types_pb2.Part) -> Part:
        return cls(pb.index, pb.bytes, Proof.from_proto(pb.proof))


def part_set_header_of(data: bytes, part_size: int = BLOCK_PART_SIZE) -> PartSetHeader:
    """The header `PartSet.from_data(data)` would have, without copying parts or building proofs."""
    view = memoryview(data)
    chunks = [view[start : start + part_size] for start in range(0, len(data), part_size)]
    return PartSetHeader(len(chunks), hash_from_byte_slices(chunks))


class PartSet:
    """A complete part set, built from data (sender) or from received parts (checked against the header)."""

    __slots__ = ("_header", "_parts")

    def __init__(self, header: PartSetHeader, parts: Sequence[Part]) -> None:
        self._header = header
        self._parts = tuple(parts)

    @classmethod
    def from_data(cls, data: bytes, part_size: int = BLOCK_PART_SIZE) -> PartSet:
        chunks = [data[start : start + part_size] for start in range(0, len(data), part_size)]
        root, proofs = proofs_from_byte_slices(chunks)
        parts = [
            Part(index, chunk, proof) for index, (chunk, proof) in enumerate(zip(chunks, proofs, strict=True))
        ]
        return cls(PartSetHeader(len(chunks), root), parts)

    @classmethod
    def from_parts(cls, header: PartSetHeader, parts: Sequence[Part]) -> PartSet:
        """Accept exactly `header.total` parts, in order, each proven under `header.hash`."""
        if header.total > MAX_BLOCK_PARTS:
            raise InvalidPartSet(f"too many parts: {header.total} > {MAX_BLOCK_PARTS}")
        if len(parts) != header.total:
            raise InvalidPartSet(f"expected {header.total} parts, got {len(parts)}")
        for index, part in enumerate(parts):
            part.validate_basic()
            if part.index != index:
                raise InvalidPartSet(f"part #{part.index} found at position {index}")
            if part.proof.total != header.total or not part.proof.verify(header.hash, part.bytes):
                raise InvalidPartSet(f"part #{index} has an invalid merkle proof")
        return cls(header, parts)

    def header(self) -> PartSetHeader:
        return self._header

    @property
    def total(self) -> int:
        return self._header.total

    def hash(self) -> bytes:
        return self._header.hash

    @property
    def parts(self) -> tuple[Part, ...]:
        return self._parts

    def data(self) -> bytes:
        """The original bytes (a block's proto encoding)."""
        return b"".join(part.bytes for part in self._parts)

    def byte_size(self) -> int:
        return sum(len(part.bytes) for part in self._parts)
