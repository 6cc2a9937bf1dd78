"""Commits (+2/3 precommits for one block) and extended commits carrying vote extensions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from cometsync.proto.tendermint.types import types_pb2
from cometsync.proto.wire import bytes_field, message_field, uvarint, varint_field
from cometsync.types.block_id import BlockID
from cometsync.types.errors import InvalidBlock, MissingVoteExtension
from cometsync.types.merkle import hash_from_byte_slices
from cometsync.types.rpc_json import JSONObject, b64_bytes, hex_bytes, int_of, to_b64, to_hex, unwrap_result
from cometsync.types.sign_bytes import (
    SignedMsgType,
    assemble_vote_sign_bytes,
    canonical_vote_prefix,
    chain_id_suffix,
    vote_extension_sign_bytes,
)
from cometsync.types.timestamp import ZERO_TIME, Timestamp

ADDRESS_SIZE = 20
MAX_SIGNATURE_SIZE = 64
MAX_VOTE_EXTENSION_SIZE = 1024 * 1024


class BlockIDFlag(IntEnum):
    UNKNOWN = 0
    ABSENT = 1
    COMMIT = 2
    NIL = 3


_FLAGS = {int(flag): flag for flag in BlockIDFlag}
_FLAG_FIELDS = {flag: varint_field(1, flag) for flag in BlockIDFlag}
_TIMESTAMP_TAG = b"\x1a"
_COMMIT_SIGNATURES_TAG = b"\x22"


def _timestamp_of(pb: types_pb2.CommitSig | types_pb2.ExtendedCommitSig) -> Timestamp:
    return Timestamp(pb.timestamp.seconds, pb.timestamp.nanos) if pb.HasField("timestamp") else ZERO_TIME


@dataclass(frozen=True, slots=True)
class CommitSig:
    """One validator's precommit inside a commit (absent, for the block, or nil)."""

    block_id_flag: BlockIDFlag
    validator_address: bytes = b""
    timestamp: Timestamp = ZERO_TIME
    signature: bytes = b""

    @classmethod
    def absent(cls) -> CommitSig:
        return cls(BlockIDFlag.ABSENT)

    def __reduce__(self) -> tuple[object, ...]:
        """Pickle as plain fields (verify workers get a commit per job; the dataclass default is slow)."""
        return (
            _commit_sig,
            (int(self.block_id_flag), self.validator_address, self.timestamp, self.signature),
        )

    def encode(self) -> bytes:
        """Proto bytes (the commit-hash leaf); the timestamp is always emitted, even Go's zero time."""
        stamp = self.timestamp.encode()
        flag = _FLAG_FIELDS.get(self.block_id_flag)
        return b"".join(
            (
                varint_field(1, self.block_id_flag) if flag is None else flag,
                bytes_field(2, self.validator_address),
                _TIMESTAMP_TAG,
                uvarint(len(stamp)),
                stamp,
                bytes_field(4, self.signature),
            )
        )

    def validate_basic(self) -> None:
        """`CommitSig.ValidateBasic`."""
        if self.block_id_flag not in (BlockIDFlag.ABSENT, BlockIDFlag.COMMIT, BlockIDFlag.NIL):
            raise InvalidBlock(f"unknown BlockIDFlag: {int(self.block_id_flag)}")
        if self.block_id_flag == BlockIDFlag.ABSENT:
            if self.validator_address:
                raise InvalidBlock("validator address is present")
            if not self.timestamp.is_zero():
                raise InvalidBlock("time is present")
            if self.signature:
                raise InvalidBlock("signature is present")
            return
        if len(self.validator_address) != ADDRESS_SIZE:
            raise InvalidBlock(
                f"expected ValidatorAddress size to be {ADDRESS_SIZE} bytes, "
                f"got {len(self.validator_address)} bytes"
            )
        if not self.signature:
            raise InvalidBlock("signature is missing")
        if len(self.signature) > MAX_SIGNATURE_SIZE:
            raise InvalidBlock(f"signature is too big (max: {MAX_SIGNATURE_SIZE})")

    def fill_proto(self, pb: types_pb2.CommitSig | types_pb2.ExtendedCommitSig) -> None:
        pb.block_id_flag = int(self.block_id_flag)  # type: ignore[assignment]
        pb.validator_address = self.validator_address
        self.timestamp.fill_proto(pb.timestamp)
        pb.signature = self.signature

    @classmethod
    def from_proto(cls, pb: types_pb2.CommitSig | types_pb2.ExtendedCommitSig) -> CommitSig:
        return cls(_flag(pb.block_id_flag), pb.validator_address, _timestamp_of(pb), pb.signature)

    @classmethod
    def from_rpc_json(cls, obj: JSONObject) -> CommitSig:
        stamp = obj.get("timestamp")
        return cls(
            _flag(int_of(obj.get("block_id_flag"))),
            hex_bytes(obj.get("validator_address")),
            Timestamp.parse(stamp) if stamp else ZERO_TIME,
            b64_bytes(obj.get("signature")),
        )

    def to_rpc_json(self) -> dict[str, object]:
        return {
            "block_id_flag": int(self.block_id_flag),
            "validator_address": to_hex(self.validator_address),
            "timestamp": self.timestamp.rfc3339(),
            "signature": to_b64(self.signature) if self.signature else None,
        }


def _flag(value: int) -> BlockIDFlag:
    flag = _FLAGS.get(value)
    if flag is None:
        raise InvalidBlock(f"unknown BlockIDFlag: {value}")
    return flag


def _commit_sig(flag: int, address: bytes, timestamp: Timestamp, signature: bytes) -> CommitSig:
    """Unpickle a CommitSig (see `CommitSig.__reduce__`)."""
    return CommitSig(_FLAGS[flag], address, timestamp, signature)


def encoded_commit_head(height: int, round_: int, block_id: BlockID) -> bytes:
    """A commit's encoded fields before its signatures: height, round and the (always emitted) block id."""
    return varint_field(1, height) + varint_field(2, round_) + message_field(3, block_id.encode())


def _check_commit_shape(height: int, round_: int, block_id: BlockID, sigs: Sequence[CommitSig]) -> None:
    if height < 0:
        raise InvalidBlock("negative Height")
    if round_ < 0:
        raise InvalidBlock("negative Round")
    if height >= 1:
        if block_id.is_zero():
            raise InvalidBlock("commit cannot be for nil block")
        if not sigs:
            raise InvalidBlock("no signatures in commit")
        for index, sig in enumerate(sigs):
            if not _plainly_valid(sig):
                try:
                    sig.validate_basic()
                except InvalidBlock as err:
                    raise InvalidBlock(f"wrong CommitSig #{index}: {err}") from err


_PRESENT_FLAGS = (BlockIDFlag.COMMIT, BlockIDFlag.NIL)


def _plainly_valid(sig: CommitSig) -> bool:
    """A quick sufficient condition for `sig.validate_basic()` passing (the common shapes, inline); when
    False the full check runs and names the problem."""
    if sig.block_id_flag in _PRESENT_FLAGS:
        return len(sig.validator_address) == ADDRESS_SIZE and 0 < len(sig.signature) <= MAX_SIGNATURE_SIZE
    return (
        sig.block_id_flag == BlockIDFlag.ABSENT
        and not (sig.validator_address or sig.signature)
        and sig.timestamp.is_zero()
    )


@dataclass(frozen=True, slots=True)
class Commit:
    """+2/3 precommits for `block_id` at `height`/`round`, indexed like the validator set."""

    height: int
    round: int
    block_id: BlockID
    signatures: tuple[CommitSig, ...]
    _hash: bytes | None = field(default=None, init=False, repr=False, compare=False)
    _encoded_sigs: tuple[bytes, ...] | None = field(default=None, init=False, repr=False, compare=False)
    _proto_bytes: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __reduce__(self) -> tuple[object, ...]:
        """Pickle the fields only: the caches are cheaper to rebuild than to ship to a worker."""
        return (Commit, (self.height, self.round, self.block_id, self.signatures))

    @classmethod
    def with_encoding(
        cls,
        height: int,
        round_: int,
        block_id: BlockID,
        sigs: tuple[CommitSig, ...],
        encoded_sigs: tuple[bytes, ...],
        encoded: bytes,
    ) -> Commit:
        """A commit whose signature encodings and whole encoding are already known (read off the wire)."""
        commit = cls(height, round_, block_id, sigs)
        object.__setattr__(commit, "_encoded_sigs", encoded_sigs)
        object.__setattr__(commit, "_proto_bytes", encoded)
        return commit

    @classmethod
    def empty(cls) -> Commit:
        """The last commit of the initial block: height 0, zero block id, no signatures."""
        return cls(0, 0, BlockID(), ())

    def hash(self) -> bytes:
        """Merkle root over each CommitSig's proto bytes (header `last_commit_hash`)."""
        cached = self._hash
        if cached is None:
            cached = hash_from_byte_slices(self.encoded_signatures())
            object.__setattr__(self, "_hash", cached)
        return cached

    def encoded_signatures(self) -> tuple[bytes, ...]:
        """Each CommitSig's proto bytes, encoded once: the hash leaves and the body of `to_proto_bytes`."""
        cached = self._encoded_sigs
        if cached is None:
            cached = tuple(sig.encode() for sig in self.signatures)
            object.__setattr__(self, "_encoded_sigs", cached)
        return cached

    def size(self) -> int:
        return len(self.signatures)

    def validate_basic(self) -> None:
        _check_commit_shape(self.height, self.round, self.block_id, self.signatures)

    def vote_sign_bytes(self, chain_id: str, index: int) -> bytes:
        """Sign bytes of the precommit behind signature `index` (`Commit.VoteSignBytes`)."""
        return self.all_vote_sign_bytes(chain_id, (index,))[0]

    def all_vote_sign_bytes(self, chain_id: str, indices: Sequence[int]) -> list[bytes]:
        """Sign bytes for several signatures, sharing the encoded prefix and chain-id suffix."""
        suffix = chain_id_suffix(chain_id)
        commit_prefix = canonical_vote_prefix(SignedMsgType.PRECOMMIT, self.height, self.round, self.block_id)
        nil_prefix = canonical_vote_prefix(SignedMsgType.PRECOMMIT, self.height, self.round, BlockID())
        out = []
        for index in indices:
            sig = self.signatures[index]
            prefix = commit_prefix if sig.block_id_flag == BlockIDFlag.COMMIT else nil_prefix
            out.append(assemble_vote_sign_bytes(prefix, sig.timestamp, suffix))
        return out

    def to_proto(self) -> types_pb2.Commit:
        pb = types_pb2.Commit(height=self.height, round=self.round)
        pb.block_id.CopyFrom(self.block_id.to_proto())
        for sig in self.signatures:
            sig.fill_proto(pb.signatures.add())
        return pb

    def to_proto_bytes(self) -> bytes:
        """Go's encoding (cached), built from the signature encodings (same bytes as `to_proto()`)."""
        cached = self._proto_bytes
        if cached is None:
            parts = [encoded_commit_head(self.height, self.round, self.block_id)]
            for encoded in self.encoded_signatures():
                parts += (_COMMIT_SIGNATURES_TAG, uvarint(len(encoded)), encoded)
            cached = b"".join(parts)
            object.__setattr__(self, "_proto_bytes", cached)
        return cached

    @classmethod
    def from_proto(cls, pb: types_pb2.Commit) -> Commit:
        sigs = tuple(CommitSig.from_proto(sig) for sig in pb.signatures)
        return cls(pb.height, pb.round, BlockID.from_proto(pb.block_id), sigs)

    @classmethod
    def from_proto_bytes(cls, data: bytes) -> Commit:
        return cls.from_proto(types_pb2.Commit.FromString(data))

    @classmethod
    def from_rpc_json(cls, obj: JSONObject) -> Commit:
        """A bare commit, or `/commit`'s result `{signed_header: {header, commit}, canonical}`."""
        obj = unwrap_result(obj)
        if "signed_header" in obj:
            obj = obj["signed_header"]["commit"]
        elif "commit" in obj and "signatures" not in obj:
            obj = obj["commit"]
        sigs = tuple(CommitSig.from_rpc_json(sig) for sig in obj.get("signatures") or ())
        return cls(
            int_of(obj.get("height")),
            int_of(obj.get("round")),
            BlockID.from_rpc_json(obj.get("block_id")),
            sigs,
        )

    def to_rpc_json(self) -> dict[str, object]:
        return {
            "height": str(self.height),
            "round": self.round,
            "block_id": self.block_id.to_rpc_json(),
            "signatures": [sig.to_rpc_json() for sig in self.signatures],
        }


@dataclass(frozen=True, slots=True)
class ExtendedCommitSig:
    """A commit signature plus the validator's vote extension and its signature."""

    commit_sig: CommitSig
    extension: bytes = b""
    extension_signature: bytes = b""

    def validate_basic(self) -> None:
        """`ExtendedCommitSig.ValidateBasic`."""
        self.commit_sig.validate_basic()
        if self.commit_sig.block_id_flag == BlockIDFlag.COMMIT:
            if len(self.extension) > MAX_VOTE_EXTENSION_SIZE:
                raise InvalidBlock(f"vote extension is too big (max: {MAX_VOTE_EXTENSION_SIZE})")
            if len(self.extension_signature) > MAX_SIGNATURE_SIZE:
                raise InvalidBlock(f"vote extension signature is too big (max: {MAX_SIGNATURE_SIZE})")
        elif self.extension and not self.extension_signature:
            raise InvalidBlock("vote extension signature absent on vote with extension")

    def extension_problem(self, enabled: bool) -> str | None:
        """Why this signature breaks `EnsureExtension(enabled)`, or None."""
        is_commit = self.commit_sig.block_id_flag == BlockIDFlag.COMMIT
        if enabled:
            if is_commit and not self.extension_signature:
                return "vote extension signature is missing"
            if not is_commit and self.extension:
                return "non-commit vote extension present"
            if not is_commit and self.extension_signature:
                return "non-commit vote extension signature present"
            return None
        if self.extension:
            return "vote extension present but extensions disabled"
        if self.extension_signature:
            return "vote extension signature present but extensions disabled"
        return None


@dataclass(frozen=True, slots=True)
class ExtendedCommit:
    """What a node stores (and blocksync sends) for heights with vote extensions enabled."""

    height: int
    round: int
    block_id: BlockID
    extended_signatures: tuple[ExtendedCommitSig, ...]

    def to_commit(self) -> Commit:
        """Drop the extensions (`ExtendedCommit.ToCommit`)."""
        sigs = tuple(ext.commit_sig for ext in self.extended_signatures)
        return Commit(self.height, self.round, self.block_id, sigs)

    def size(self) -> int:
        return len(self.extended_signatures)

    def validate_basic(self) -> None:
        _check_commit_shape(
            self.height, self.round, self.block_id, [e.commit_sig for e in self.extended_signatures]
        )
        for index, ext in enumerate(self.extended_signatures):
            try:
                ext.validate_basic()
            except InvalidBlock as err:
                raise InvalidBlock(f"wrong ExtendedCommitSig #{index}: {err}") from err

    def ensure_extensions(self, enabled: bool) -> None:
        """Raise `MissingVoteExtension` unless extension data is present exactly where `enabled` demands."""
        for index, ext in enumerate(self.extended_signatures):
            problem = ext.extension_problem(enabled)
            if problem is not None:
                raise MissingVoteExtension(index, problem)

    def extension_sign_bytes(self, chain_id: str, index: int) -> bytes:
        return vote_extension_sign_bytes(
            chain_id, self.height, self.round, self.extended_signatures[index].extension
        )

    def to_proto(self) -> types_pb2.ExtendedCommit:
        pb = types_pb2.ExtendedCommit(height=self.height, round=self.round)
        pb.block_id.CopyFrom(self.block_id.to_proto())
        for ext in self.extended_signatures:
            ext_pb = pb.extended_signatures.add()
            ext.commit_sig.fill_proto(ext_pb)
            ext_pb.extension = ext.extension
            ext_pb.extension_signature = ext.extension_signature
        return pb

    def to_proto_bytes(self) -> bytes:
        return bytes(self.to_proto().SerializeToString())

    @classmethod
    def from_proto(cls, pb: types_pb2.ExtendedCommit) -> ExtendedCommit:
        sigs = tuple(
            ExtendedCommitSig(CommitSig.from_proto(ext), ext.extension, ext.extension_signature)
            for ext in pb.extended_signatures
        )
        return cls(pb.height, pb.round, BlockID.from_proto(pb.block_id), sigs)

    @classmethod
    def from_proto_bytes(cls, data: bytes) -> ExtendedCommit:
        return cls.from_proto(types_pb2.ExtendedCommit.FromString(data))
