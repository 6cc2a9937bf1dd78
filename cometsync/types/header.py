"""Block header: its 14-leaf merkle hash and basic validation (`types/block.go` Header)."""

from __future__ import annotations

from dataclasses import dataclass, field

from cometsync.proto.tendermint.types import types_pb2
from cometsync.proto.wire import bytes_field, varint_field
from cometsync.types.block_id import BlockID, check_hash
from cometsync.types.errors import InvalidBlock, InvalidHeader
from cometsync.types.merkle import hash_from_byte_slices
from cometsync.types.rpc_json import JSONObject, hex_bytes, int_of, to_hex
from cometsync.types.timestamp import ZERO_TIME, Timestamp

BLOCK_PROTOCOL = 11
MAX_CHAIN_ID_LEN = 50
ADDRESS_SIZE = 20


@dataclass(frozen=True, slots=True)
class Version:
    """`tendermint.version.Consensus`: block and app protocol versions."""

    block: int = BLOCK_PROTOCOL
    app: int = 0

    def encode(self) -> bytes:
        return varint_field(1, self.block) + varint_field(2, self.app)


@dataclass(frozen=True, slots=True)
class Header:
    version: Version
    chain_id: str
    height: int
    time: Timestamp
    last_block_id: BlockID
    last_commit_hash: bytes
    data_hash: bytes
    validators_hash: bytes
    next_validators_hash: bytes
    consensus_hash: bytes
    app_hash: bytes
    last_results_hash: bytes
    evidence_hash: bytes
    proposer_address: bytes
    _hash: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def hash(self) -> bytes | None:
        """Merkle root of the 14 encoded fields; None (Go's nil) when `validators_hash` is empty."""
        if not self.validators_hash:
            return None
        cached = self._hash
        if cached is None:
            cached = hash_from_byte_slices(self.hash_leaves())
            object.__setattr__(self, "_hash", cached)
        return cached

    def hash_leaves(self) -> list[bytes]:
        """Each field wrapped as `cdcEncode` does (StringValue/Int64Value/BytesValue, raw protos)."""
        byte_fields = (
            self.last_commit_hash,
            self.data_hash,
            self.validators_hash,
            self.next_validators_hash,
            self.consensus_hash,
            self.app_hash,
            self.last_results_hash,
            self.evidence_hash,
            self.proposer_address,
        )
        return [
            self.version.encode(),
            bytes_field(1, self.chain_id.encode()),
            varint_field(1, self.height),
            self.time.encode(),
            self.last_block_id.encode(),
            *(bytes_field(1, value) for value in byte_fields),
        ]

    def validate_basic(self) -> None:
        """`Header.ValidateBasic`: protocol version, chain id, height, hash and address sizes."""
        if self.version.block != BLOCK_PROTOCOL:
            raise InvalidHeader(
                f"block protocol is incorrect: got {self.version.block}, want {BLOCK_PROTOCOL}"
            )
        if len(self.chain_id) > MAX_CHAIN_ID_LEN:
            raise InvalidHeader(f"chain id is too long; got {len(self.chain_id)}, max {MAX_CHAIN_ID_LEN}")
        if self.height <= 0:
            raise InvalidHeader(f"header height must be positive, got {self.height}")
        try:
            self.last_block_id.validate_basic()
            for name in (
                "last_commit_hash",
                "data_hash",
                "evidence_hash",
                "next_validators_hash",
                "validators_hash",
                "consensus_hash",
                "last_results_hash",
            ):
                check_hash(name, getattr(self, name))
        except InvalidBlock as err:
            raise InvalidHeader(str(err)) from err
        if len(self.proposer_address) != ADDRESS_SIZE:
            raise InvalidHeader(
                f"invalid proposer address length; got {len(self.proposer_address)}, expected {ADDRESS_SIZE}"
            )

    def to_proto(self) -> types_pb2.Header:
        pb = types_pb2.Header(
            chain_id=self.chain_id,
            height=self.height,
            last_commit_hash=self.last_commit_hash,
            data_hash=self.data_hash,
            validators_hash=self.validators_hash,
            next_validators_hash=self.next_validators_hash,
            consensus_hash=self.consensus_hash,
            app_hash=self.app_hash,
            last_results_hash=self.last_results_hash,
            evidence_hash=self.evidence_hash,
            proposer_address=self.proposer_address,
        )
        pb.version.SetInParent()
        pb.version.block = self.version.block
        pb.version.app = self.version.app
        self.time.fill_proto(pb.time)
        pb.last_block_id.CopyFrom(self.last_block_id.to_proto())
        return pb

    @classmethod
    def from_proto(cls, pb: types_pb2.Header) -> Header:
        return cls(
            version=Version(pb.version.block, pb.version.app),
            chain_id=pb.chain_id,
            height=pb.height,
            time=Timestamp(pb.time.seconds, pb.time.nanos) if pb.HasField("time") else ZERO_TIME,
            last_block_id=BlockID.from_proto(pb.last_block_id),
            last_commit_hash=pb.last_commit_hash,
            data_hash=pb.data_hash,
            validators_hash=pb.validators_hash,
            next_validators_hash=pb.next_validators_hash,
            consensus_hash=pb.consensus_hash,
            app_hash=pb.app_hash,
            last_results_hash=pb.last_results_hash,
            evidence_hash=pb.evidence_hash,
            proposer_address=pb.proposer_address,
        )

    @classmethod
    def from_rpc_json(cls, obj: JSONObject) -> Header:
        """A header as `/header`, `/block` or `/commit` return it (also proto-JSON spelling)."""
        version = obj.get("version") or {}
        return cls(
            version=Version(int_of(version.get("block")), int_of(version.get("app"))),
            chain_id=obj.get("chain_id", ""),
            height=int_of(obj.get("height")),
            time=Timestamp.parse(obj["time"]) if obj.get("time") else ZERO_TIME,
            last_block_id=BlockID.from_rpc_json(obj.get("last_block_id")),
            last_commit_hash=hex_bytes(obj.get("last_commit_hash")),
            data_hash=hex_bytes(obj.get("data_hash")),
            validators_hash=hex_bytes(obj.get("validators_hash")),
            next_validators_hash=hex_bytes(obj.get("next_validators_hash")),
            consensus_hash=hex_bytes(obj.get("consensus_hash")),
            app_hash=hex_bytes(obj.get("app_hash")),
            last_results_hash=hex_bytes(obj.get("last_results_hash")),
            evidence_hash=hex_bytes(obj.get("evidence_hash")),
            proposer_address=hex_bytes(obj.get("proposer_address")),
        )

    def to_rpc_json(self) -> dict[str, object]:
        return {
            "version": {"block": str(self.version.block), "app": str(self.version.app)},
            "chain_id": self.chain_id,
            "height": str(self.height),
            "time": self.time.rfc3339(),
            "last_block_id": self.last_block_id.to_rpc_json(),
            "last_commit_hash": to_hex(self.last_commit_hash),
            "data_hash": to_hex(self.data_hash),
            "validators_hash": to_hex(self.validators_hash),
            "next_validators_hash": to_hex(self.next_validators_hash),
            "consensus_hash": to_hex(self.consensus_hash),
            "app_hash": to_hex(self.app_hash),
            "last_results_hash": to_hex(self.last_results_hash),
            "evidence_hash": to_hex(self.evidence_hash),
            "proposer_address": to_hex(self.proposer_address),
        }
