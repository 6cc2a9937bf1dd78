"""Consensus parameters: defaults, genesis JSON, ABCI updates and the header `consensus_hash`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from cometsync.proto.tendermint.types import params_pb2
from cometsync.proto.wire import varint_field
from cometsync.types.rpc_json import JSONObject, int_of

NANOS_PER_SECOND = 1_000_000_000


@dataclass(frozen=True, slots=True)
class ConsensusParams:
    """CometBFT v0.38 `ConsensusParams` (durations in nanoseconds)."""

    block_max_bytes: int = 22020096
    block_max_gas: int = -1
    evidence_max_age_num_blocks: int = 100000
    evidence_max_age_duration_ns: int = 48 * 3600 * NANOS_PER_SECOND
    evidence_max_bytes: int = 1048576
    validator_pub_key_types: tuple[str, ...] = ("ed25519",)
    version_app: int = 0
    vote_extensions_enable_height: int = 0

    @classmethod
    def default(cls) -> ConsensusParams:
        return cls()

    def hash(self) -> bytes:
        """SHA-256 of `HashedParams{block_max_bytes, block_max_gas}` (not a merkle tree)."""
        return hashlib.sha256(
            varint_field(1, self.block_max_bytes) + varint_field(2, self.block_max_gas)
        ).digest()

    def vote_extensions_enabled(self, height: int) -> bool:
        """`ABCIParams.VoteExtensionsEnabled`: extensions are required from the enable height on."""
        enable = self.vote_extensions_enable_height
        return enable != 0 and height >= enable

    def update(self, pb: params_pb2.ConsensusParams | None) -> ConsensusParams:
        """Apply ABCI `consensus_param_updates`: only the sub-messages that are present change."""
        if pb is None:
            return self
        updated = self
        if pb.HasField("block"):
            updated = replace(updated, block_max_bytes=pb.block.max_bytes, block_max_gas=pb.block.max_gas)
        if pb.HasField("evidence"):
            duration = pb.evidence.max_age_duration
            updated = replace(
                updated,
                evidence_max_age_num_blocks=pb.evidence.max_age_num_blocks,
                evidence_max_age_duration_ns=duration.seconds * NANOS_PER_SECOND + duration.nanos,
                evidence_max_bytes=pb.evidence.max_bytes,
            )
        if pb.HasField("validator"):
            updated = replace(updated, validator_pub_key_types=tuple(pb.validator.pub_key_types))
        if pb.HasField("version"):
            updated = replace(updated, version_app=pb.version.app)
        if pb.HasField("abci"):
            updated = replace(updated, vote_extensions_enable_height=pb.abci.vote_extensions_enable_height)
        return updated

    def to_proto(self) -> params_pb2.ConsensusParams:
        pb = params_pb2.ConsensusParams()
        pb.block.max_bytes = self.block_max_bytes
        pb.block.max_gas = self.block_max_gas
        pb.evidence.max_age_num_blocks = self.evidence_max_age_num_blocks
        pb.evidence.max_age_duration.seconds = self.evidence_max_age_duration_ns // NANOS_PER_SECOND
        pb.evidence.max_age_duration.nanos = self.evidence_max_age_duration_ns % NANOS_PER_SECOND
        pb.evidence.max_bytes = self.evidence_max_bytes
        pb.validator.pub_key_types.extend(self.validator_pub_key_types)
        pb.version.SetInParent()
        pb.version.app = self.version_app
        pb.abci.SetInParent()
        pb.abci.vote_extensions_enable_height = self.vote_extensions_enable_height
        return pb

    @classmethod
    def from_proto(cls, pb: params_pb2.ConsensusParams) -> ConsensusParams:
        return cls.default().update(pb)

    @classmethod
    def from_rpc_json(cls, obj: JSONObject) -> ConsensusParams:
        """Genesis `consensus_params` or `/consensus_params` result; missing sections keep defaults."""
        if "consensus_params" in obj:
            obj = obj["consensus_params"]
        params = cls.default()
        block = obj.get("block")
        if block:
            params = replace(
                params, block_max_bytes=int_of(block["max_bytes"]), block_max_gas=int_of(block["max_gas"])
            )
        evidence = obj.get("evidence")
        if evidence:
            params = replace(
                params,
                evidence_max_age_num_blocks=int_of(evidence["max_age_num_blocks"]),
                evidence_max_age_duration_ns=int_of(evidence["max_age_duration"]),
                evidence_max_bytes=int_of(evidence.get("max_bytes")),
            )
        validator = obj.get("validator")
        if validator:
            params = replace(params, validator_pub_key_types=tuple(validator["pub_key_types"]))
        version = obj.get("version")
        if version:
            params = replace(params, version_app=int_of(version.get("app")))
        abci = obj.get("abci")
        if abci:
            params = replace(
                params, vote_extensions_enable_height=int_of(abci.get("vote_extensions_enable_height"))
            )
        return params

    def to_rpc_json(self) -> dict[str, object]:
        return {
            "block": {"max_bytes": str(self.block_max_bytes), "max_gas": str(self.block_max_gas)},
            "evidence": {
                "max_age_num_blocks": str(self.evidence_max_age_num_blocks),
                "max_age_duration": str(self.evidence_max_age_duration_ns),
                "max_bytes": str(self.evidence_max_bytes),
            },
            "validator": {"pub_key_types": list(self.validator_pub_key_types)},
            "version": {"app": str(self.version_app)},
            "abci": {"vote_extensions_enable_height": str(self.vote_extensions_enable_height)},
        }
