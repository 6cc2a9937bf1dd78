"""A validator: ed25519 key, voting power and proposer priority (`types/validator.go`)."""

from __future__ import annotations

from dataclasses import dataclass

from cometsync.crypto.ed25519 import PUBKEY_SIZE, address_of
from cometsync.proto.tendermint.types import validator_pb2
from cometsync.proto.wire import bytes_field, message_field, varint_field
from cometsync.types.errors import InvalidValidatorSet
from cometsync.types.rpc_json import JSONObject, b64_bytes, hex_bytes, int_of, to_b64, to_hex
from cometsync.types.slots import new_instance, slot_setters

ED25519_JSON_TYPE = "tendermint/PubKeyEd25519"


@dataclass(frozen=True, slots=True)
class Validator:
    address: bytes
    pub_key: bytes
    voting_power: int
    proposer_priority: int = 0

    @classmethod
    def from_pub_key(cls, pub_key: bytes, voting_power: int, proposer_priority: int = 0) -> Validator:
        return cls(address_of(pub_key), pub_key, voting_power, proposer_priority)

    def __reduce__(self) -> tuple[object, ...]:
        """Pickle as plain fields: validator sets travel to the verify workers with every job."""
        return (Validator, (self.address, self.pub_key, self.voting_power, self.proposer_priority))

    def with_priority(self, proposer_priority: int) -> Validator:
        """A copy with another priority, built through its slots (`slots.py`): every block gives each
        validator of the next set a new priority."""
        clone: Validator = new_instance(Validator)
        _set_address(clone, self.address)
        _set_pub_key(clone, self.pub_key)
        _set_voting_power(clone, self.voting_power)
        _set_priority(clone, proposer_priority)
        return clone

    def simple_bytes(self) -> bytes:
        """`SimpleValidator{pub_key, voting_power}` proto bytes: the validator-set hash leaf."""
        return message_field(1, bytes_field(1, self.pub_key)) + varint_field(2, self.voting_power)

    def encoded_without_priority(self) -> bytes:
        """Proto fields 1-3 (address, key, power): what stays when only the proposer priority changes."""
        key = message_field(2, message_field(1, self.pub_key))  # a set oneof is emitted even when empty
        return bytes_field(1, self.address) + key + varint_field(3, self.voting_power)

    def validate_basic(self) -> None:
        if len(self.pub_key) != PUBKEY_SIZE:
            raise InvalidValidatorSet(f"validator {to_hex(self.address)} has no valid ed25519 public key")
        if self.voting_power < 0:
            raise InvalidValidatorSet(f"validator {to_hex(self.address)} has negative voting power")
        if self.address != address_of(self.pub_key):
            raise InvalidValidatorSet(f"validator address {to_hex(self.address)} does not match its key")

    def to_proto(self) -> validator_pb2.Validator:
        pb = validator_pb2.Validator()
        self.fill_proto(pb)
        return pb

    def fill_proto(self, pb: validator_pb2.Validator) -> None:
        """Set the fields of a message in place (a set's repeated field: no copy per validator)."""
        pb.address = self.address
        pb.pub_key.ed25519 = self.pub_key
        pb.voting_power = self.voting_power
        pb.proposer_priority = self.proposer_priority

    @classmethod
    def from_proto(cls, pb: validator_pb2.Validator) -> Validator:
        if pb.pub_key.WhichOneof("sum") != "ed25519":
            raise InvalidValidatorSet("only ed25519 validator keys are supported")
        return cls(pb.address, pb.pub_key.ed25519, pb.voting_power, pb.proposer_priority)

    @classmethod
    def from_rpc_json(cls, obj: JSONObject) -> Validator:
        """`/validators` entries (`voting_power`) or genesis validators (`power`)."""
        key = obj["pub_key"]
        if key.get("type", ED25519_JSON_TYPE) != ED25519_JSON_TYPE:
            raise InvalidValidatorSet(f"unsupported validator key type {key.get('type')!r}")
        pub_key = b64_bytes(key["value"])
        power = obj["voting_power"] if "voting_power" in obj else obj.get("power")
        address = hex_bytes(obj.get("address")) or address_of(pub_key)
        return cls(address, pub_key, int_of(power), int_of(obj.get("proposer_priority")))

    def to_rpc_json(self) -> dict[str, object]:
        return {
            "address": to_hex(self.address),
            "pub_key": {"type": ED25519_JSON_TYPE, "value": to_b64(self.pub_key)},
            "voting_power": str(self.voting_power),
            "proposer_priority": str(self.proposer_priority),
        }


_set_address, _set_pub_key, _set_voting_power, _set_priority = slot_setters(
    Validator, "address", "pub_key", "voting_power", "proposer_priority"
)
