"""Signed headers, light blocks and single-step light-client verification (`light/verifier.go`).

Used for LightClientAttackEvidence and to check headers against a trusted state with a trust level.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from cometsync.proto.tendermint.types import types_pb2
from cometsync.types.commit import Commit
from cometsync.types.errors import InsufficientVotingPower, TypesError
from cometsync.types.header import Header
from cometsync.types.rpc_json import JSONObject, unwrap_result
from cometsync.types.timestamp import Timestamp
from cometsync.types.validator_set import ValidatorSet

DEFAULT_TRUST_LEVEL = Fraction(1, 3)


class LightVerificationError(TypesError):
    """The untrusted header is invalid (verdict INVALID)."""


class NotEnoughTrust(LightVerificationError):
    """Valid on its own, but the trusted validators signed too little of it (verdict NOT_ENOUGH_TRUST)."""


@dataclass(frozen=True, slots=True)
class SignedHeader:
    header: Header
    commit: Commit

    def validate_basic(self, chain_id: str) -> None:
        """Header and commit agree on chain, height and block hash.

        Unlike Go's `SignedHeader.ValidateBasic`, signatures are not checked one by one here (as in
        tendermint-rs): absent ones are ignored and the others are checked during commit verification.
        """
        self.header.validate_basic()
        if self.commit.block_id.is_zero() or not self.commit.signatures:
            raise LightVerificationError("commit is for a nil block or has no signatures")
        if self.header.chain_id != chain_id:
            raise LightVerificationError(f"header belongs to another chain {self.header.chain_id!r}")
        if self.commit.height != self.header.height:
            raise LightVerificationError(
                f"header and commit height mismatch: {self.header.height} vs {self.commit.height}"
            )
        if self.commit.block_id.hash != self.header.hash():
            raise LightVerificationError("commit signs block with another hash than the header")

    def to_proto(self) -> types_pb2.SignedHeader:
        pb = types_pb2.SignedHeader()
        pb.header.CopyFrom(self.header.to_proto())
        pb.commit.CopyFrom(self.commit.to_proto())
        return pb

    @classmethod
    def from_proto(cls, pb: types_pb2.SignedHeader) -> SignedHeader:
        return cls(Header.from_proto(pb.header), Commit.from_proto(pb.commit))

    @classmethod
    def from_rpc_json(cls, obj: JSONObject) -> SignedHeader:
        """`{header, commit}` or `/commit`'s result `{signed_header, canonical}`."""
        obj = unwrap_result(obj)
        obj = obj.get("signed_header", obj)
        return cls(Header.from_rpc_json(obj["header"]), Commit.from_rpc_json(obj["commit"]))

    def to_rpc_json(self) -> dict[str, object]:
        return {"header": self.header.to_rpc_json(), "commit": self.commit.to_rpc_json()}


@dataclass(frozen=True, slots=True)
class LightBlock:
    signed_header: SignedHeader
    validator_set: ValidatorSet

    @property
    def height(self) -> int:
        return self.signed_header.header.height

    def hash(self) -> bytes | None:
        return self.signed_header.header.hash()

    def validate_basic(self, chain_id: str) -> None:
        self.signed_header.validate_basic(chain_id)
        if self.validator_set.size() == 0:
            raise LightVerificationError("light block has an empty validator set")
        if self.validator_set.hash() != self.signed_header.header.validators_hash:
            raise LightVerificationError("validator set does not match header validators_hash")

    def to_proto(self) -> types_pb2.LightBlock:
        pb = types_pb2.LightBlock()
        pb.signed_header.CopyFrom(self.signed_header.to_proto())
        pb.validator_set.CopyFrom(self.validator_set.to_proto())
        return pb

    @classmethod
    def from_rpc_json(cls, obj: JSONObject) -> LightBlock:
        return cls(
            SignedHeader.from_rpc_json(obj["signed_header"]), ValidatorSet.from_rpc_json(obj["validator_set"])
        )

    def to_rpc_json(self) -> dict[str, object]:
        validators = self.validator_set
        return {
            "signed_header": self.signed_header.to_rpc_json(),
            "validator_set": {
                "validators": [val.to_rpc_json() for val in validators.validators],
                "proposer": validators.proposer.to_rpc_json(),
                "total_voting_power": str(validators.total_voting_power()),
            },
        }

    @classmethod
    def from_proto(cls, pb: types_pb2.LightBlock) -> LightBlock:
        return cls(SignedHeader.from_proto(pb.signed_header), ValidatorSet.from_proto(pb.validator_set))


def verify_light(
    trusted: SignedHeader,
    trusted_next_validators: ValidatorSet,
    untrusted: SignedHeader,
    untrusted_validators: ValidatorSet,
    trusting_period_ns: int,
    now: Timestamp,
    trust_level: Fraction = DEFAULT_TRUST_LEVEL,
    max_clock_drift_ns: int = 0,
) -> None:
    """Single-step verification: adjacent headers chain by validator hash, others need `trust_level`.

    Raises `NotEnoughTrust` or `LightVerificationError`; returns when the untrusted header is verified.
    """
    t_header, u_header = trusted.header, untrusted.header
    if t_header.time.unix_nanos() + trusting_period_ns <= now.unix_nanos():
        raise LightVerificationError("trusted header has expired")
    _check_new_header(trusted, untrusted, untrusted_validators, now, max_clock_drift_ns)
    chain_id = t_header.chain_id
    commit = untrusted.commit
    if u_header.height == t_header.height + 1:
        if u_header.validators_hash != t_header.next_validators_hash:
            raise LightVerificationError("adjacent header's validators differ from trusted next validators")
    else:
        try:
            trusted_next_validators.verify_commit_light_trusting(chain_id, commit, trust_level)
        except InsufficientVotingPower as err:
            raise NotEnoughTrust(str(err)) from err
        except TypesError as err:
            raise LightVerificationError(str(err)) from err
    try:
        untrusted_validators.verify_commit_light(chain_id, commit.block_id, u_header.height, commit)
    except TypesError as err:
        raise LightVerificationError(str(err)) from err


def _check_new_header(
    trusted: SignedHeader,
    untrusted: SignedHeader,
    untrusted_validators: ValidatorSet,
    now: Timestamp,
    max_clock_drift_ns: int,
) -> None:
    """`verifyNewHeaderAndVals`."""
    t_header, u_header = trusted.header, untrusted.header
    try:
        untrusted.validate_basic(t_header.chain_id)
    except TypesError as err:
        raise LightVerificationError(f"untrusted header is malformed: {err}") from err
    if u_header.height <= t_header.height:
        raise LightVerificationError("untrusted header height is not above the trusted one")
    if u_header.time <= t_header.time:
        raise LightVerificationError("untrusted header time is not after the trusted one")
    if u_header.time.unix_nanos() >= now.unix_nanos() + max_clock_drift_ns:
        raise LightVerificationError("untrusted header is from the future")
    if u_header.validators_hash != untrusted_validators.hash():
        raise LightVerificationError("untrusted validators do not match the header's validators_hash")
