"""Key names of CometBFT v0.38's `blockstore.db` (`store/store.go`)."""

from __future__ import annotations

BLOCK_STORE_STATE_KEY = b"blockStore"


def block_meta_key(height: int) -> bytes:
    return b"H:%d" % height


def block_part_key(height: int, index: int) -> bytes:
    return b"P:%d:%d" % (height, index)


def block_commit_key(height: int) -> bytes:
    """The canonical commit for `height` (= block height+1's LastCommit)."""
    return b"C:%d" % height


def seen_commit_key(height: int) -> bytes:
    return b"SC:%d" % height


def extended_commit_key(height: int) -> bytes:
    return b"EC:%d" % height


def block_hash_key(block_hash: bytes) -> bytes:
    """`BH:<lower-case hex>`, whose value is the height in decimal ASCII."""
    return b"BH:" + block_hash.hex().encode()
