"""BlockID and PartSetHeader: how a block is named (header hash + part-set root)."""

from __future__ import annotations

from dataclasses import dataclass

from cometsync.proto.tendermint.types import types_pb2
from cometsync.proto.wire import bytes_field, message_field, varint_field
from cometsync.types.errors import InvalidBlock
from cometsync.types.rpc_json import JSONObject, hex_bytes, int_of, to_hex, unwrap_result

HASH_SIZE = 32


def check_hash(name: str, value: bytes) -> None:
    """`types.ValidateHash`: a hash field is empty or 32 bytes."""
    if value and len(value) != HASH_SIZE:
        raise InvalidBlock(f"wrong {name}: expected size {HASH_SIZE} bytes, got {len(value)}")


@dataclass(frozen=True, slots=True)
class PartSetHeader:
    total: int = 0
    hash: bytes = b""

    def is_zero(self) -> bool:
        return self.total == 0 and not self.hash

    def encode(self) -> bytes:
        """Wire bytes; identical for `PartSetHeader` and `CanonicalPartSetHeader`."""
        return varint_field(1, self.total) + bytes_field(2, self.hash)

    def validate_basic(self) -> None:
        check_hash("part set header hash", self.hash)

    def to_proto(self) -> types_pb2.PartSetHeader:
        return types_pb2.PartSetHeader(total=self.total, hash=self.hash)

    @classmethod
    def from_proto(cls, pb: types_pb2.PartSetHeader) -> PartSetHeader:
        return cls(pb.total, pb.hash)

    @classmethod
    def from_rpc_json(cls, obj: JSONObject | None) -> PartSetHeader:
        if not obj:
            return cls()
        return cls(int_of(obj.get("total")), hex_bytes(obj.get("hash")))

    def to_rpc_json(self) -> dict[str, object]:
        return {"total": self.total, "hash": to_hex(self.hash)}


@dataclass(frozen=True, slots=True)
class BlockID:
    hash: bytes = b""
    part_set_header: PartSetHeader = PartSetHeader()

    def is_zero(self) -> bool:
        return not self.hash and self.part_set_header.is_zero()

    def is_complete(self) -> bool:
        return (
            len(self.hash) == HASH_SIZE
            and self.part_set_header.total > 0
            and (len(self.part_set_header.hash) == HASH_SIZE)
        )

    def encode(self) -> bytes:
        """Wire bytes; the part-set header is always emitted (gogoproto non-nullable)."""
        return bytes_field(1, self.hash) + message_field(2, self.part_set_header.encode())

    def validate_basic(self) -> None:
        check_hash("block id hash", self.hash)
        self.part_set_header.validate_basic()

    def to_proto(self) -> types_pb2.BlockID:
        pb = types_pb2.BlockID(hash=self.hash)
        pb.part_set_header.SetInParent()
        pb.part_set_header.total = self.part_set_header.total
        pb.part_set_header.hash = self.part_set_header.hash
        return pb

    @classmethod
    def from_proto(cls, pb: types_pb2.BlockID) -> BlockID:
        return cls(pb.hash, PartSetHeader.from_proto(pb.part_set_header))

    @classmethod
    def from_rpc_json(cls, obj: JSONObject | None) -> BlockID:
        """Accept `/block`'s result ({block_id, block}), a bare block id, `parts` or `part_set_header`."""
        if not obj:
            return cls()
        obj = unwrap_result(obj)
        if "block_id" in obj:
            return cls.from_rpc_json(obj["block_id"])
        parts = obj.get("parts", obj.get("part_set_header"))
        return cls(hex_bytes(obj.get("hash")), PartSetHeader.from_rpc_json(parts))

    def to_rpc_json(self) -> dict[str, object]:
        return {"hash": to_hex(self.hash), "parts": self.part_set_header.to_rpc_json()}

    def __str__(self) -> str:
        psh = self.part_set_header
        return f"{to_hex(self.hash)}:{psh.total}:{to_hex(psh.hash)}"
