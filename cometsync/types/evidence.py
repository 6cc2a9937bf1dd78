"""Evidence of misbehaviour included in blocks, and the EvidenceList hash (`types/evidence.go`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cometsync.proto.tendermint.types import evidence_pb2
from cometsync.proto.wire import zigzag_varint
from cometsync.types.errors import InvalidEvidence, TypesError
from cometsync.types.light import LightBlock
from cometsync.types.merkle import hash_from_byte_slices
from cometsync.types.rpc_json import JSONObject, int_of
from cometsync.types.timestamp import ZERO_TIME, Timestamp
from cometsync.types.validator import Validator
from cometsync.types.vote import Vote

DUPLICATE_VOTE_JSON_TYPE = "tendermint/DuplicateVoteEvidence"
LIGHT_CLIENT_ATTACK_JSON_TYPE = "tendermint/LightClientAttackEvidence"


@dataclass(frozen=True, slots=True)
class DuplicateVoteEvidence:
    """Two conflicting votes by one validator at the same height and round."""

    vote_a: Vote
    vote_b: Vote
    total_voting_power: int
    validator_power: int
    timestamp: Timestamp

    def to_proto(self) -> evidence_pb2.DuplicateVoteEvidence:
        pb = evidence_pb2.DuplicateVoteEvidence(
            total_voting_power=self.total_voting_power, validator_power=self.validator_power
        )
        pb.vote_a.CopyFrom(self.vote_a.to_proto())
        pb.vote_b.CopyFrom(self.vote_b.to_proto())
        self.timestamp.fill_proto(pb.timestamp)
        return pb

    def to_bytes(self) -> bytes:
        """Proto bytes of the concrete type: the EvidenceList hash leaf."""
        return bytes(self.to_proto().SerializeToString())

    def hash(self) -> bytes:
        return hashlib.sha256(self.to_bytes()).digest()

    def validate_basic(self) -> None:
        try:
            self.vote_a.validate_basic()
            self.vote_b.validate_basic()
        except TypesError as err:
            raise InvalidEvidence(f"invalid vote in duplicate vote evidence: {err}") from err
        key_a = self.vote_a.block_id.hash + self.vote_a.block_id.part_set_header.encode()
        key_b = self.vote_b.block_id.hash + self.vote_b.block_id.part_set_header.encode()
        if key_a >= key_b:
            raise InvalidEvidence("duplicate votes in invalid order")

    @classmethod
    def from_proto(cls, pb: evidence_pb2.DuplicateVoteEvidence) -> DuplicateVoteEvidence:
        return cls(
            Vote.from_proto(pb.vote_a),
            Vote.from_proto(pb.vote_b),
            pb.total_voting_power,
            pb.validator_power,
            Timestamp.from_proto(pb.timestamp) if pb.HasField("timestamp") else ZERO_TIME,
        )

    @classmethod
    def from_rpc_json(cls, obj: JSONObject) -> DuplicateVoteEvidence:
        return cls(
            Vote.from_rpc_json(obj["vote_a"]),
            Vote.from_rpc_json(obj["vote_b"]),
            int_of(obj.get("total_voting_power", obj.get("TotalVotingPower"))),
            int_of(obj.get("validator_power", obj.get("ValidatorPower"))),
            Timestamp.parse(obj.get("timestamp", obj.get("Timestamp"))),
        )

    def to_rpc_json(self) -> dict[str, object]:
        return {
            "type": DUPLICATE_VOTE_JSON_TYPE,
            "value": {
                "vote_a": self.vote_a.to_rpc_json(),
                "vote_b": self.vote_b.to_rpc_json(),
                "total_voting_power": str(self.total_voting_power),
                "validator_power": str(self.validator_power),
                "timestamp": self.timestamp.rfc3339(),
            },
        }


@dataclass(frozen=True, slots=True)
class LightClientAttackEvidence:
    """A conflicting light block signed by (some of) the validators trusted at `common_height`."""

    conflicting_block: LightBlock
    common_height: int
    byzantine_validators: tuple[Validator, ...]
    total_voting_power: int
    timestamp: Timestamp

    def to_proto(self) -> evidence_pb2.LightClientAttackEvidence:
        pb = evidence_pb2.LightClientAttackEvidence(
            common_height=self.common_height, total_voting_power=self.total_voting_power
        )
        pb.conflicting_block.CopyFrom(self.conflicting_block.to_proto())
        pb.byzantine_validators.extend(val.to_proto() for val in self.byzantine_validators)
        self.timestamp.fill_proto(pb.timestamp)
        return pb

    def to_bytes(self) -> bytes:
        return bytes(self.to_proto().SerializeToString())

    def hash(self) -> bytes:
        """Go hashes the first 31 bytes of the block hash, a zero byte, then varint(common_height)."""
        block_hash = (self.conflicting_block.hash() or b"").ljust(32, b"\x00")
        return hashlib.sha256(block_hash[:31] + b"\x00" + zigzag_varint(self.common_height)).digest()

    def validate_basic(self) -> None:
        if self.total_voting_power <= 0:
            raise InvalidEvidence("negative or zero total voting power")
        if self.common_height <= 0:
            raise InvalidEvidence("negative or zero common height")
        if self.common_height > self.conflicting_block.height:
            raise InvalidEvidence(
                f"common height is ahead of the conflicting block height "
                f"({self.common_height} > {self.conflicting_block.height})"
            )
        chain_id = self.conflicting_block.signed_header.header.chain_id
        try:
            self.conflicting_block.validate_basic(chain_id)
        except TypesError as err:
            raise InvalidEvidence(f"invalid conflicting light block: {err}") from err

    def to_rpc_json(self) -> dict[str, object]:
        return {
            "type": LIGHT_CLIENT_ATTACK_JSON_TYPE,
            "value": {
                "conflicting_block": self.conflicting_block.to_rpc_json(),
                "common_height": str(self.common_height),
                "byzantine_validators": [val.to_rpc_json() for val in self.byzantine_validators],
                "total_voting_power": str(self.total_voting_power),
                "timestamp": self.timestamp.rfc3339(),
            },
        }

    @classmethod
    def from_rpc_json(cls, obj: JSONObject) -> LightClientAttackEvidence:
        return cls(
            LightBlock.from_rpc_json(obj["conflicting_block"]),
            int_of(obj.get("common_height")),
            tuple(Validator.from_rpc_json(val) for val in obj.get("byzantine_validators") or ()),
            int_of(obj.get("total_voting_power")),
            Timestamp.parse(obj["timestamp"]),
        )

    @classmethod
    def from_proto(cls, pb: evidence_pb2.LightClientAttackEvidence) -> LightClientAttackEvidence:
        return cls(
            LightBlock.from_proto(pb.conflicting_block),
            pb.common_height,
            tuple(Validator.from_proto(val) for val in pb.byzantine_validators),
            pb.total_voting_power,
            Timestamp.from_proto(pb.timestamp) if pb.HasField("timestamp") else ZERO_TIME,
        )


Evidence = DuplicateVoteEvidence | LightClientAttackEvidence


def evidence_to_proto(evidence: Evidence) -> evidence_pb2.Evidence:
    """Wrap in the `Evidence` oneof used inside blocks."""
    if isinstance(evidence, DuplicateVoteEvidence):
        return evidence_pb2.Evidence(duplicate_vote_evidence=evidence.to_proto())
    return evidence_pb2.Evidence(light_client_attack_evidence=evidence.to_proto())


def evidence_from_proto(pb: evidence_pb2.Evidence) -> Evidence:
    kind = pb.WhichOneof("sum")
    if kind == "duplicate_vote_evidence":
        return DuplicateVoteEvidence.from_proto(pb.duplicate_vote_evidence)
    if kind == "light_client_attack_evidence":
        return LightClientAttackEvidence.from_proto(pb.light_client_attack_evidence)
    raise InvalidEvidence("evidence of unknown type")


def evidence_from_rpc_json(obj: JSONObject) -> Evidence:
    """RPC JSON evidence: `{type, value}` with the amino-style type name."""
    kind = obj.get("type")
    if kind == DUPLICATE_VOTE_JSON_TYPE:
        return DuplicateVoteEvidence.from_rpc_json(obj["value"])
    if kind == LIGHT_CLIENT_ATTACK_JSON_TYPE:
        return LightClientAttackEvidence.from_rpc_json(obj["value"])
    raise InvalidEvidence(f"unsupported evidence type in RPC JSON: {kind!r}")


def evidence_list_hash(evidence: tuple[Evidence, ...]) -> bytes:
    """Merkle root over each evidence's concrete proto bytes (not the oneof wrapper)."""
    return hash_from_byte_slices([item.to_bytes() for item in evidence])
