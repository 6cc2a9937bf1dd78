"""BlockStore: blocks, metas, parts and commits under CometBFT v0.38's `blockstore.db` keys and encodings.

Unlike Go (which writes blocks of more than 10 parts outside the batch), every save is ONE synced write
batch, so a crash leaves either the whole block with its commits and the new store height, or nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from google.protobuf.message import DecodeError

from cometsync.proto.tendermint.store import types_pb2 as store_pb2
from cometsync.proto.tendermint.types import types_pb2
from cometsync.store import keys
from cometsync.store.crashpoints import crash_point
from cometsync.store.db import Database, DatabaseOwner, PendingWrite, open_db
from cometsync.store.errors import DatabaseCorrupt, InvalidSave, StoreError
from cometsync.types import Block, BlockMeta, Commit, ExtendedCommit, Part, PartSet
from cometsync.types.errors import TypesError

T = TypeVar("T")


def _part_from_bytes(data: bytes) -> Part:
    return Part.from_proto(types_pb2.Part.FromString(data))


class BlockStore(DatabaseOwner):
    """Contiguous blocks `base..height`; loaders return None for heights the store does not hold."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._base, self._height = self._load_state()

    @classmethod
    def open(cls, path: Path) -> BlockStore:
        """Open `<home>/data/blockstore.db` (raises DatabaseLocked / DatabaseCorrupt / StoreError)."""
        return cls(open_db(path))

    def _load_state(self) -> tuple[int, int]:
        raw = self._db.get(keys.BLOCK_STORE_STATE_KEY)
        if not raw:
            return 0, 0
        state = self._decode(
            "the block store state", keys.BLOCK_STORE_STATE_KEY, raw, store_pb2.BlockStoreState.FromString
        )
        # Stores written before `base` existed start at 1 (as Go's LoadBlockStoreState does).
        base = state.base if state.base > 0 or state.height == 0 else 1
        return base, state.height

    @property
    def base(self) -> int:
        """First height held, 0 when empty."""
        return self._base

    @property
    def height(self) -> int:
        """Last height held, 0 when empty."""
        return self._height

    def size(self) -> int:
        return 0 if self._height == 0 else self._height - self._base + 1

    # -- loaders -------------------------------------------------------------------------------------

    def _get(self, key: bytes) -> bytes | None:
        return self._db.get(key)

    def _decode(self, what: str, key: bytes, data: bytes, decoder: Callable[[bytes], T]) -> T:
        try:
            return decoder(data)
        except (DecodeError, TypesError, ValueError) as exc:
            error = DatabaseCorrupt(
                f"{self._db.path}: cannot decode {what} stored under {key.decode()!r}: {exc}"
            )
            raise self._db.report(error) from exc

    def load_block_meta_bytes(self, height: int) -> bytes | None:
        return self._get(keys.block_meta_key(height))

    def load_block_meta(self, height: int) -> BlockMeta | None:
        key = keys.block_meta_key(height)
        raw = self._get(key)
        return None if raw is None else self._decode("a block meta", key, raw, BlockMeta.from_proto_bytes)

    def load_block_part_bytes(self, height: int, index: int) -> bytes | None:
        return self._get(keys.block_part_key(height, index))

    def load_block_part(self, height: int, index: int) -> Part | None:
        key = keys.block_part_key(height, index)
        raw = self._get(key)
        return None if raw is None else self._decode("a block part", key, raw, _part_from_bytes)

    def load_block_bytes(self, height: int) -> bytes | None:
        """The block's raw proto bytes (its parts concatenated), to serve peers without re-encoding."""
        meta = self.load_block_meta(height)
        if meta is None:
            return None
        chunks = []
        for index in range(meta.block_id.part_set_header.total):
            part = self.load_block_part(height, index)
            if part is None:
                error = DatabaseCorrupt(
                    f"{self._db.path}: block {height} has a meta but part {index} is missing"
                )
                raise self._db.report(error)
            chunks.append(part.bytes)
        return b"".join(chunks)

    def load_block(self, height: int) -> Block | None:
        raw = self.load_block_bytes(height)
        if raw is None:
            return None
        return self._decode("a block", keys.block_meta_key(height), raw, Block.from_proto_bytes)

    def load_block_by_hash(self, block_hash: bytes) -> Block | None:
        key = keys.block_hash_key(block_hash)
        raw = self._get(key)
        if raw is None:
            return None
        return self.load_block(self._decode("a block height", key, raw, int))

    def load_block_commit_bytes(self, height: int) -> bytes | None:
        return self._get(keys.block_commit_key(height))

    def load_block_commit(self, height: int) -> Commit | None:
        """The canonical commit for `height` (stored when block height+1 was saved)."""
        key = keys.block_commit_key(height)
        raw = self._get(key)
        return None if raw is None else self._decode("a commit", key, raw, Commit.from_proto_bytes)

    def load_seen_commit_bytes(self, height: int) -> bytes | None:
        return self._get(keys.seen_commit_key(height))

    def load_seen_commit(self, height: int) -> Commit | None:
        key = keys.seen_commit_key(height)
        raw = self._get(key)
        return None if raw is None else self._decode("a seen commit", key, raw, Commit.from_proto_bytes)

    def load_extended_commit_bytes(self, height: int) -> bytes | None:
        return self._get(keys.extended_commit_key(height))

    def load_extended_commit(self, height: int) -> ExtendedCommit | None:
        key = keys.extended_commit_key(height)
        raw = self._get(key)
        return (
            None
            if raw is None
            else self._decode("an extended commit", key, raw, ExtendedCommit.from_proto_bytes)
        )

    # -- writers -------------------------------------------------------------------------------------

    def _check_save(
        self, block: Block, part_set: PartSet, seen_commit: Commit, ext: ExtendedCommit | None
    ) -> None:
        height = block.height
        if self._base > 0 and height != self._height + 1:
            raise InvalidSave(f"can only save contiguous blocks: wanted {self._height + 1}, got {height}")
        if len(part_set.parts) != part_set.total:
            raise InvalidSave("can only save a complete part set")
        if seen_commit.height != height:
            raise InvalidSave(f"seen commit is for height {seen_commit.height}, block is {height}")
        if ext is not None and ext.height != height:
            raise InvalidSave(f"extended commit is for height {ext.height}, block is {height}")

    def save_block(
        self,
        block: Block,
        part_set: PartSet,
        seen_commit: Commit,
        ext_commit: ExtendedCommit | None = None,
    ) -> None:
        """`stage_block`, written at once."""
        self.stage_block(block, part_set, seen_commit, ext_commit).write()

    def stage_block(
        self,
        block: Block,
        part_set: PartSet,
        seen_commit: Commit,
        ext_commit: ExtendedCommit | None = None,
    ) -> PendingWrite:
        """Parts, meta, hash index, LastCommit (`C:h-1`), seen commit, optional `EC:h` and the new store
        state as one synced batch, encoded now and written by the returned `write()` (the store's height
        moves then). Go's SaveBlockWithExtendedCommit passes `ext_commit.to_commit()` as the seen commit."""
        self._check_save(block, part_set, seen_commit, ext_commit)
        height = block.height
        last_commit = block.last_commit if block.last_commit is not None else Commit.empty()
        new_base = self._base or height
        state = store_pb2.BlockStoreState(base=new_base, height=height)

        def written() -> None:
            crash_point("store.after_batch_write")
            self._base, self._height = new_base, height

        def writing() -> None:
            crash_point("store.before_batch_write")

        with self._db.staged_batch(writing, written) as (batch, pending):
            for part in part_set.parts:
                batch.put(keys.block_part_key(height, part.index), part.to_proto().SerializeToString())
            batch.put(keys.block_meta_key(height), BlockMeta.from_block(block, part_set).to_proto_bytes())
            batch.put(keys.block_hash_key(block.hash() or b""), str(height).encode())
            batch.put(keys.block_commit_key(height - 1), last_commit.to_proto_bytes())
            batch.put(keys.seen_commit_key(height), seen_commit.to_proto_bytes())
            if ext_commit is not None:
                batch.put(keys.extended_commit_key(height), ext_commit.to_proto_bytes())
            batch.put(keys.BLOCK_STORE_STATE_KEY, state.SerializeToString())
        return pending

    def prune_blocks(self, retain_height: int) -> int:
        """Delete every block below `retain_height` (one synced batch); returns how many were pruned."""
        if retain_height <= 0:
            raise StoreError("retain height must be greater than 0")
        if retain_height > self._height:
            raise StoreError(f"cannot prune beyond the latest height {self._height}")
        if retain_height < self._base:
            raise StoreError(f"cannot prune to height {retain_height}, it is lower than base {self._base}")
        pruned = 0
        with self._db.write_batch() as batch:
            for height in range(self._base, retain_height):
                meta = self.load_block_meta(height)
                if meta is None:
                    continue
                for index in range(meta.block_id.part_set_header.total):
                    batch.delete(keys.block_part_key(height, index))
                for key in (
                    keys.block_meta_key(height),
                    keys.block_hash_key(meta.block_id.hash),
                    keys.block_commit_key(height),
                    keys.seen_commit_key(height),
                    keys.extended_commit_key(height),
                ):
                    batch.delete(key)
                pruned += 1
            state = store_pb2.BlockStoreState(base=retain_height, height=self._height)
            batch.put(keys.BLOCK_STORE_STATE_KEY, state.SerializeToString())
        self._base = retain_height
        return pruned
