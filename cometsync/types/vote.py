"""A single consensus vote, as carried in evidence and consensus messages (`types/vote.go`)."""

from __future__ import annotations

from dataclasses import dataclass

from cometsync.crypto.ed25519 import verify
from cometsync.proto.tendermint.types import types_pb2
from cometsync.types.block_id import BlockID
from cometsync.types.errors import InvalidEvidence, TypesError
from cometsync.types.rpc_json import JSONObject, b64_bytes, hex_bytes, int_of, to_b64, to_hex
from cometsync.types.sign_bytes import SignedMsgType, vote_sign_bytes
from cometsync.types.timestamp import ZERO_TIME, Timestamp

ADDRESS_SIZE = 20
MAX_SIGNATURE_SIZE = 64


@dataclass(frozen=True, slots=True)
class Vote:
    type: SignedMsgType
    height: int
    round: int
    block_id: BlockID
    timestamp: Timestamp
    validator_address: bytes
    validator_index: int
    signature: bytes = b""
    extension: bytes = b""
    extension_signature: bytes = b""

    def sign_bytes(self, chain_id: str) -> bytes:
        return vote_sign_bytes(chain_id, self.type, self.height, self.round, self.block_id, self.timestamp)

    def verify(self, chain_id: str, pub_key: bytes) -> bool:
        return verify(pub_key, self.sign_bytes(chain_id), self.signature)

    def validate_basic(self) -> None:
        """`Vote.ValidateBasic`."""
        if self.type not in (SignedMsgType.PREVOTE, SignedMsgType.PRECOMMIT):
            raise InvalidEvidence("invalid vote Type")
        if self.height <= 0:
            raise InvalidEvidence("negative or zero Height")
        if self.round < 0:
            raise InvalidEvidence("negative Round")
        try:
            self.block_id.validate_basic()
        except TypesError as err:
            raise InvalidEvidence(f"wrong BlockID: {err}") from err
        if not self.block_id.is_zero() and not self.block_id.is_complete():
            raise InvalidEvidence(f"blockID must be either empty or complete, got: {self.block_id}")
        if len(self.validator_address) != ADDRESS_SIZE:
            raise InvalidEvidence(f"expected ValidatorAddress size to be {ADDRESS_SIZE} bytes")
        if self.validator_index < 0:
            raise InvalidEvidence("negative ValidatorIndex")
        if not self.signature:
            raise InvalidEvidence("signature is missing")
        if len(self.signature) > MAX_SIGNATURE_SIZE:
            raise InvalidEvidence(f"signature is too big (max: {MAX_SIGNATURE_SIZE})")
        for_block = self.type == SignedMsgType.PRECOMMIT and not self.block_id.is_zero()
        if not for_block and (self.extension or self.extension_signature):
            raise InvalidEvidence("unexpected vote extension")
        if for_block and len(self.extension_signature) > MAX_SIGNATURE_SIZE:
            raise InvalidEvidence(f"vote extension signature is too big (max: {MAX_SIGNATURE_SIZE})")
        if for_block and self.extension and not self.extension_signature:
            raise InvalidEvidence("vote extension signature absent on vote with extension")

    def to_proto(self) -> types_pb2.Vote:
        pb = types_pb2.Vote(
            type=int(self.type),  # type: ignore[arg-type]
            height=self.height,
            round=self.round,
            validator_address=self.validator_address,
            validator_index=self.validator_index,
            signature=self.signature,
            extension=self.extension,
            extension_signature=self.extension_signature,
        )
        pb.block_id.CopyFrom(self.block_id.to_proto())
        self.timestamp.fill_proto(pb.timestamp)
        return pb

    @classmethod
    def from_proto(cls, pb: types_pb2.Vote) -> Vote:
        return cls(
            SignedMsgType(pb.type),
            pb.height,
            pb.round,
            BlockID.from_proto(pb.block_id),
            Timestamp(pb.timestamp.seconds, pb.timestamp.nanos) if pb.HasField("timestamp") else ZERO_TIME,
            pb.validator_address,
            pb.validator_index,
            pb.signature,
            pb.extension,
            pb.extension_signature,
        )

    @classmethod
    def from_rpc_json(cls, obj: JSONObject) -> Vote:
        stamp = obj.get("timestamp")
        return cls(
            SignedMsgType(int_of(obj.get("type"))),
            int_of(obj.get("height")),
            int_of(obj.get("round")),
            BlockID.from_rpc_json(obj.get("block_id")),
            Timestamp.parse(stamp) if stamp else ZERO_TIME,
            hex_bytes(obj.get("validator_address")),
            int_of(obj.get("validator_index")),
            b64_bytes(obj.get("signature")),
            b64_bytes(obj.get("extension")),
            b64_bytes(obj.get("extension_signature")),
        )

    def to_rpc_json(self) -> dict[str, object]:
        return {
            "type": int(self.type),
            "height": str(self.height),
            "round": self.round,
            "block_id": self.block_id.to_rpc_json(),
            "timestamp": self.timestamp.rfc3339(),
            "validator_address": to_hex(self.validator_address),
            "validator_index": self.validator_index,
            "signature": to_b64(self.signature) if self.signature else None,
            "extension": to_b64(self.extension) if self.extension else None,
            "extension_signature": to_b64(self.extension_signature) if self.extension_signature else None,
        }
