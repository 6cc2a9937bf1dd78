"""The replicated state after a block (CometBFT v0.38 `state.State`), from genesis or from state.db."""

from __future__ import annotations

from dataclasses import dataclass

from cometsync.proto.tendermint.state import types_pb2 as state_pb2
from cometsync.proto.wire import iter_fields, message_field
from cometsync.types import BlockID, ConsensusParams, Genesis, Timestamp, ValidatorSet
from cometsync.types.header import BLOCK_PROTOCOL

SOFTWARE_VERSION = "0.38.25"
_NEXT_VALIDATORS_FIELD = 6
_VALIDATORS_FIELD = 7
_LAST_VALIDATORS_FIELD = 8


@dataclass(frozen=True)
class State:
    """Everything needed to validate and execute the next block; treat validator sets as read-only."""

    chain_id: str
    initial_height: int
    last_block_height: int
    last_block_id: BlockID
    last_block_time: Timestamp
    next_validators: ValidatorSet
    validators: ValidatorSet
    last_validators: ValidatorSet
    last_height_validators_changed: int
    consensus_params: ConsensusParams
    last_height_consensus_params_changed: int
    last_results_hash: bytes
    app_hash: bytes
    app_version: int = 0
    block_version: int = BLOCK_PROTOCOL
    software: str = SOFTWARE_VERSION

    @classmethod
    def from_genesis(cls, genesis: Genesis) -> State:
        """`MakeGenesisState`: validators from genesis, next validators one priority step ahead."""
        validators = genesis.validator_set() if genesis.validators else ValidatorSet([])
        next_validators = validators.copy_increment_proposer_priority(1) if genesis.validators else validators
        return cls(
            chain_id=genesis.chain_id,
            initial_height=genesis.initial_height,
            last_block_height=0,
            last_block_id=BlockID(),
            last_block_time=genesis.genesis_time,
            next_validators=next_validators,
            validators=validators,
            last_validators=ValidatorSet([]),
            last_height_validators_changed=genesis.initial_height,
            consensus_params=genesis.consensus_params,
            last_height_consensus_params_changed=genesis.initial_height,
            last_results_hash=b"",
            app_hash=genesis.app_hash,
        )

    def next_height(self) -> int:
        return self.initial_height if self.last_block_height == 0 else self.last_block_height + 1

    def to_proto(self) -> state_pb2.State:
        pb = self._proto_without_validators()
        pb.validators.CopyFrom(self.validators.to_proto())
        pb.next_validators.CopyFrom(self.next_validators.to_proto())
        if self.last_block_height >= 1:
            pb.last_validators.CopyFrom(self.last_validators.to_proto())
        return pb

    def _proto_without_validators(self) -> state_pb2.State:
        pb = state_pb2.State(
            chain_id=self.chain_id,
            initial_height=self.initial_height,
            last_block_height=self.last_block_height,
            last_height_validators_changed=self.last_height_validators_changed,
            last_height_consensus_params_changed=self.last_height_consensus_params_changed,
            last_results_hash=self.last_results_hash,
            app_hash=self.app_hash,
        )
        pb.version.consensus.block = self.block_version
        pb.version.consensus.app = self.app_version
        pb.version.software = self.software
        pb.last_block_id.CopyFrom(self.last_block_id.to_proto())
        self.last_block_time.fill_proto(pb.last_block_time)
        pb.consensus_params.CopyFrom(self.consensus_params.to_proto())
        return pb

    def to_bytes(self) -> bytes:
        """`to_proto()`'s bytes, with the validator sets (fields 6-8) spliced in from their cached
        encodings between the fields before and after them, instead of copied into a message."""
        rest = bytes(self._proto_without_validators().SerializeToString())
        split = 0
        for item in iter_fields(rest):
            if item.number > _LAST_VALIDATORS_FIELD:
                break
            split = item.end
        sets = [
            message_field(_NEXT_VALIDATORS_FIELD, self.next_validators.to_proto_bytes()),
            message_field(_VALIDATORS_FIELD, self.validators.to_proto_bytes()),
        ]
        if self.last_block_height >= 1:
            sets.append(message_field(_LAST_VALIDATORS_FIELD, self.last_validators.to_proto_bytes()))
        return b"".join((rest[:split], *sets, rest[split:]))

    @classmethod
    def from_proto(cls, pb: state_pb2.State) -> State:
        last_validators = (
            ValidatorSet.from_proto(pb.last_validators) if pb.last_block_height >= 1 else ValidatorSet([])
        )
        return cls(
            chain_id=pb.chain_id,
            initial_height=pb.initial_height,
            last_block_height=pb.last_block_height,
            last_block_id=BlockID.from_proto(pb.last_block_id),
            last_block_time=Timestamp.from_proto(pb.last_block_time),
            next_validators=ValidatorSet.from_proto(pb.next_validators),
            validators=ValidatorSet.from_proto(pb.validators),
            last_validators=last_validators,
            last_height_validators_changed=pb.last_height_validators_changed,
            consensus_params=ConsensusParams.from_proto(pb.consensus_params),
            last_height_consensus_params_changed=pb.last_height_consensus_params_changed,
            last_results_hash=pb.last_results_hash,
            app_hash=pb.app_hash,
            app_version=pb.version.consensus.app,
            block_version=pb.version.consensus.block,
            software=pb.version.software,
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> State:
        return cls.from_proto(state_pb2.State.FromString(data))
