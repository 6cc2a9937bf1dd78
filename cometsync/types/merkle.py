"""CometBFT's RFC 6962-style merkle tree (`crypto/merkle`): roots and inclusion proofs.

The split point is the largest power of two strictly below the item count, so the tree is not a
complete binary tree and proofs must follow the same shape.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cometsync.proto.tendermint.crypto import proof_pb2

_LEAF_PREFIX = b"\x00"
_INNER_PREFIX = b"\x01"
MAX_AUNTS = 100


def empty_hash() -> bytes:
    return hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(_LEAF_PREFIX + leaf).digest()


def inner_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_INNER_PREFIX + left + right).digest()


def split_point(length: int) -> int:
    """Largest power of two strictly less than `length` (length >= 2)."""
    return 1 << ((length - 1).bit_length() - 1)


def _root_of_leaf_hashes(hashes: list[bytes]) -> bytes:
    """Level by level, an unpaired last node moving up as is: the same root as splitting at the largest
    power of two below the count (Go's recursion), without slicing or a call per node."""
    sha256 = hashlib.sha256
    level = hashes
    while len(level) > 1:
        paired = [
            sha256(_INNER_PREFIX + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def hash_from_byte_slices(items: Sequence[bytes | memoryview]) -> bytes:
    """Merkle root of `items` (each hashed as a leaf); SHA-256("") for no items."""
    if not items:
        return empty_hash()
    sha256 = hashlib.sha256
    return _root_of_leaf_hashes([sha256(_LEAF_PREFIX + item).digest() for item in items])


@dataclass(frozen=True, slots=True)
class Proof:
    """Inclusion proof of one leaf: its index, the tree size and the sibling hashes bottom-up."""

    total: int
    index: int
    leaf_hash: bytes
    aunts: tuple[bytes, ...]

    def compute_root(self) -> bytes | None:
        """Root implied by the proof, or None when its shape is inconsistent."""
        return _root_from_aunts(self.index, self.total, self.leaf_hash, self.aunts)

    def verify(self, root: bytes, leaf: bytes) -> bool:
        """True iff `leaf` sits at `index` in the tree with this `root`."""
        if self.total <= 0 or self.index < 0 or self.index >= self.total:
            return False
        if len(self.aunts) > MAX_AUNTS or leaf_hash(leaf) != self.leaf_hash:
            return False
        return self.compute_root() == root

    def to_proto(self) -> proof_pb2.Proof:
        return proof_pb2.Proof(
            total=self.total, index=self.index, leaf_hash=self.leaf_hash, aunts=list(self.aunts)
        )

    @classmethod
    def from_proto(cls, pb: proof_pb2.Proof) -> Proof:
        return cls(pb.total, pb.index, pb.leaf_hash, tuple(pb.aunts))


def _root_from_aunts(index: int, total: int, leaf: bytes, aunts: Sequence[bytes]) -> bytes | None:
    if index >= total or index < 0 or total <= 0:
        return None
    if total == 1:
        return leaf if not aunts else None
    if not aunts:
        return None
    k = split_point(total)
    if index < k:
        left = _root_from_aunts(index, k, leaf, aunts[:-1])
        return None if left is None else inner_hash(left, aunts[-1])
    right = _root_from_aunts(index - k, total - k, leaf, aunts[:-1])
    return None if right is None else inner_hash(aunts[-1], right)


def proofs_from_byte_slices(items: Sequence[bytes]) -> tuple[bytes, list[Proof]]:
    """Root and one proof per item (what a part set hands out with each part)."""
    if not items:
        return empty_hash(), []
    leaves = [leaf_hash(item) for item in items]
    trails: list[list[bytes]] = [[] for _ in items]
    root = _build_trails(leaves, 0, trails)
    proofs = [Proof(len(items), i, leaves[i], tuple(trails[i])) for i in range(len(items))]
    return root, proofs


def _build_trails(hashes: Sequence[bytes], offset: int, trails: list[list[bytes]]) -> bytes:
    """Root of `hashes`, appending each leaf's sibling hashes (bottom-up) to its trail."""
    if len(hashes) == 1:
        return hashes[0]
    k = split_point(len(hashes))
    left = _build_trails(hashes[:k], offset, trails)
    right = _build_trails(hashes[k:], offset + k, trails)
    for i in range(offset, offset + k):
        trails[i].append(right)
    for i in range(offset + k, offset + len(hashes)):
        trails[i].append(left)
    return inner_hash(left, right)
