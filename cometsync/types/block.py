"""Block, Data and BlockMeta: proto round-trip, hashing, part sets and `Block.validate_basic`.

The canonical proto bytes are cached: a blocksync node hashes them into a part set and stores them, and
when a block was decoded from canonical bytes those very bytes are kept instead of a second copy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from cometsync.proto.tendermint.types import block_pb2, types_pb2
from cometsync.proto.wire import WIRE_LEN, WireField, WireFormatError, iter_fields, message_field, uvarint
from cometsync.types.block_id import BlockID
from cometsync.types.commit import Commit
from cometsync.types.commit_wire import commit_from_canonical
from cometsync.types.errors import InvalidBlock, TypesError
from cometsync.types.evidence import (
    Evidence,
    evidence_from_proto,
    evidence_from_rpc_json,
    evidence_list_hash,
    evidence_to_proto,
)
from cometsync.types.header import Header
from cometsync.types.merkle import hash_from_byte_slices
from cometsync.types.part_set import BLOCK_PART_SIZE, PartSet, part_set_header_of
from cometsync.types.rpc_json import JSONObject, b64_bytes, int_of, to_b64, unwrap_result


def tx_hash(tx: bytes) -> bytes:
    """A transaction's id: SHA-256 of its bytes."""
    return hashlib.sha256(tx).digest()


def txs_hash(txs: Sequence[bytes]) -> bytes:
    """`Txs.Hash` (header `data_hash`): merkle over the tx hashes."""
    return hash_from_byte_slices([tx_hash(tx) for tx in txs])


@dataclass(frozen=True, slots=True)
class Block:
    header: Header
    txs: tuple[bytes, ...]
    evidence: tuple[Evidence, ...]
    last_commit: Commit | None
    _proto_bytes: bytes | None = field(default=None, init=False, repr=False, compare=False)
    _block_id: BlockID | None = field(default=None, init=False, repr=False, compare=False)
    _valid: bool = field(default=False, init=False, repr=False, compare=False)

    @property
    def height(self) -> int:
        return self.header.height

    def hash(self) -> bytes | None:
        """The header hash (block id hash); None (Go's nil) without a last commit or validators hash."""
        if self.last_commit is None:
            return None
        return self.header.hash()

    def data_hash(self) -> bytes:
        return txs_hash(self.txs)

    def evidence_hash(self) -> bytes:
        return evidence_list_hash(self.evidence)

    def make_part_set(self, part_size: int = BLOCK_PART_SIZE) -> PartSet:
        return PartSet.from_data(self.to_proto_bytes(), part_size)

    def block_id(self, part_set: PartSet | None = None) -> BlockID:
        """`BlockID{Hash(), MakePartSet().Header()}`: what the next block's last commit must sign.

        Cached: a syncing node compares it with the next header's `last_block_id` before saving it."""
        cached = self._block_id
        if cached is None:
            parts = part_set.header() if part_set is not None else part_set_header_of(self.to_proto_bytes())
            cached = BlockID(self.hash() or b"", parts)
            object.__setattr__(self, "_block_id", cached)
        return cached

    def size(self) -> int:
        return len(self.to_proto_bytes())

    def validate_basic(self) -> None:
        """`Block.ValidateBasic`: header sanity plus every hash the header commits to about this block.

        A pass is remembered (the block is immutable): blocksync checks a block on receipt and again in
        `validate_block`."""
        if self._valid:
            return
        self._check_basic()
        object.__setattr__(self, "_valid", True)

    def _check_basic(self) -> None:
        try:
            self.header.validate_basic()
        except InvalidBlock as err:
            raise InvalidBlock(f"invalid header: {err}") from err
        if self.last_commit is None:
            raise InvalidBlock("nil LastCommit")
        try:
            self.last_commit.validate_basic()
        except InvalidBlock as err:
            raise InvalidBlock(f"wrong LastCommit: {err}") from err
        if self.header.last_commit_hash != self.last_commit.hash():
            raise InvalidBlock("wrong Header.LastCommitHash")
        if self.header.data_hash != self.data_hash():
            raise InvalidBlock("wrong Header.DataHash")
        for index, item in enumerate(self.evidence):
            try:
                item.validate_basic()
            except TypesError as err:
                raise InvalidBlock(f"invalid evidence (#{index}): {err}") from err
        if self.header.evidence_hash != self.evidence_hash():
            raise InvalidBlock("wrong Header.EvidenceHash")

    def to_proto(self) -> block_pb2.Block:
        pb = self._proto_without_commit()
        if self.last_commit is not None:
            pb.last_commit.CopyFrom(self.last_commit.to_proto())
        return pb

    def _proto_without_commit(self) -> block_pb2.Block:
        pb = block_pb2.Block()
        pb.header.CopyFrom(self.header.to_proto())
        pb.data.SetInParent()
        pb.data.txs.extend(self.txs)
        pb.evidence.SetInParent()
        pb.evidence.evidence.extend(evidence_to_proto(item) for item in self.evidence)
        return pb

    def to_proto_bytes(self) -> bytes:
        """Go's canonical encoding (cached). The last commit is the last field (4), so its hand-built
        bytes (one per signature, shared with the commit hash) are appended to the rest's encoding."""
        cached = self._proto_bytes
        if cached is None:
            cached = self._proto_without_commit().SerializeToString()
            if self.last_commit is not None:
                cached += message_field(4, self.last_commit.to_proto_bytes())
            object.__setattr__(self, "_proto_bytes", cached)
        return cached

    @classmethod
    def from_proto(cls, pb: block_pb2.Block) -> Block:
        last_commit = Commit.from_proto(pb.last_commit) if pb.HasField("last_commit") else None
        return cls._with_commit(pb, last_commit)

    @classmethod
    def _with_commit(cls, pb: block_pb2.Block, last_commit: Commit | None) -> Block:
        return cls(
            Header.from_proto(pb.header),
            tuple(pb.data.txs),
            tuple(evidence_from_proto(item) for item in pb.evidence.evidence),
            last_commit,
        )

    @classmethod
    def from_proto_bytes(cls, data: bytes) -> Block:
        """Decode; the received bytes are kept as the encoding when they are canonical."""
        return cls.from_parsed(block_pb2.Block.FromString(data), data)

    @classmethod
    def from_parsed(cls, pb: block_pb2.Block, data: bytes) -> Block:
        """`from_proto_bytes` for a caller that already parsed `data` into `pb` (no second parse).

        When the last commit ends `data` in canonical form, its signatures are read from those bytes
        (`commit_from_canonical`) and only the rest of the block is re-encoded for the canonical check."""
        found = _trailing_commit(data)
        commit = None if found is None else commit_from_canonical(pb.last_commit, data, found[1], len(data))
        if commit is None:
            block = cls.from_proto(pb)
            canonical = block.to_proto_bytes() == data
        else:
            assert found is not None
            block = cls._with_commit(pb, commit)
            rest = block._proto_without_commit().SerializeToString()
            key_start, value_start = found
            canonical = (
                len(rest) == key_start
                and data.startswith(rest)
                and data[key_start:value_start] == _COMMIT_KEY + uvarint(len(data) - value_start)
            )
        if canonical:
            object.__setattr__(block, "_proto_bytes", data)
        return block

    @classmethod
    def from_rpc_json(cls, obj: JSONObject) -> Block:
        """`/block` result `{block_id, block}`, a NewBlock event value, or a bare block."""
        obj = unwrap_result(obj)
        if "block" in obj:
            obj = obj["block"]
        evidence = (obj.get("evidence") or {}).get("evidence") or ()
        commit = obj.get("last_commit")
        return cls(
            Header.from_rpc_json(obj["header"]),
            tuple(b64_bytes(tx) for tx in (obj.get("data") or {}).get("txs") or ()),
            tuple(evidence_from_rpc_json(item) for item in evidence),
            Commit.from_rpc_json(commit) if commit is not None else None,
        )

    def to_rpc_json(self) -> dict[str, object]:
        """`/block` result shape: `{block_id, block}`."""
        block: dict[str, object] = {
            "header": self.header.to_rpc_json(),
            "data": {"txs": [to_b64(tx) for tx in self.txs]},
            "evidence": {"evidence": [item.to_rpc_json() for item in self.evidence]},
            "last_commit": self.last_commit.to_rpc_json() if self.last_commit is not None else None,
        }
        return {"block_id": self.block_id().to_rpc_json(), "block": block}


_LAST_COMMIT_FIELD = 4
_COMMIT_KEY = bytes((_LAST_COMMIT_FIELD << 3 | WIRE_LEN,))
_CANONICAL_BLOCK_FIELDS = 4


def _trailing_commit(data: bytes) -> tuple[int, int] | None:
    """(key start, value start) of `last_commit` when it is the only one and the last of at most four
    top-level fields, as in Go's encoding; None for any other layout (the proto path decides)."""
    last: WireField | None = None
    key_start = 0
    try:
        for count, item in enumerate(iter_fields(data), 1):
            if count > _CANONICAL_BLOCK_FIELDS or (last is not None and last.number == _LAST_COMMIT_FIELD):
                return None
            if last is not None:
                key_start = last.end
            last = item
    except WireFormatError:
        return None
    if last is None or last.number != _LAST_COMMIT_FIELD or last.wire_type != WIRE_LEN:
        return None
    return key_start, last.start


@dataclass(frozen=True, slots=True)
class BlockMeta:
    """What the block store keeps per height besides the parts (`H:<height>`)."""

    block_id: BlockID
    block_size: int
    header: Header
    num_txs: int

    @classmethod
    def from_block(cls, block: Block, part_set: PartSet) -> BlockMeta:
        return cls(block.block_id(part_set), part_set.byte_size(), block.header, len(block.txs))

    def to_proto(self) -> types_pb2.BlockMeta:
        pb = types_pb2.BlockMeta(block_size=self.block_size, num_txs=self.num_txs)
        pb.block_id.CopyFrom(self.block_id.to_proto())
        pb.header.CopyFrom(self.header.to_proto())
        return pb

    def to_proto_bytes(self) -> bytes:
        return bytes(self.to_proto().SerializeToString())

    @classmethod
    def from_proto(cls, pb: types_pb2.BlockMeta) -> BlockMeta:
        return cls(BlockID.from_proto(pb.block_id), pb.block_size, Header.from_proto(pb.header), pb.num_txs)

    @classmethod
    def from_proto_bytes(cls, data: bytes) -> BlockMeta:
        return cls.from_proto(types_pb2.BlockMeta.FromString(data))

    @classmethod
    def from_rpc_json(cls, obj: JSONObject) -> BlockMeta:
        return cls(
            BlockID.from_rpc_json(obj["block_id"]),
            int_of(obj.get("block_size")),
            Header.from_rpc_json(obj["header"]),
            int_of(obj.get("num_txs")),
        )
