"""Helpers for the store/state/crash tests: the real CometBFT chains under tests/data as raw values."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import plyvel

from cometsync.store import keys
from cometsync.types import Block, Commit, ExtendedCommit, Genesis, PartSet

DATA = Path(__file__).parent / "data"
LOCALNET = DATA / "cometbft-v0.38.25-localnet"
VOTEEXT = DATA / "cometbft-v0.38.25-voteext"


@dataclass(frozen=True)
class FixtureChain:
    """Raw values a real CometBFT v0.38.25 node kept in its blockstore.db, by height."""

    folder: Path
    tip: int
    seen_commit_file: str

    def genesis(self) -> Genesis:
        return Genesis.load(self.folder / "genesis.json")

    def block_bytes(self, height: int) -> bytes:
        return (self.folder / "blocks" / f"{height}.pb").read_bytes()

    def meta_bytes(self, height: int) -> bytes:
        return (self.folder / "blockmetas" / f"{height}.pb").read_bytes()

    def commit_bytes(self, height: int) -> bytes:
        """`C:<height>`, the canonical commit (absent for the tip)."""
        return (self.folder / "commits" / f"{height}.pb").read_bytes()

    def seen_commit_bytes(self) -> bytes:
        return (self.folder / self.seen_commit_file).read_bytes()

    def ext_commit_bytes(self, height: int) -> bytes | None:
        path = self.folder / "extcommits" / f"{height}.pb"
        return path.read_bytes() if path.exists() else None

    def block(self, height: int) -> Block:
        return _decoded_block(self.folder, height)

    def seen_commit(self, height: int) -> Commit:
        """What blocksync saves as SC:h: the next block's LastCommit, or the stored SC for the tip."""
        if height == self.tip:
            return Commit.from_proto_bytes(self.seen_commit_bytes())
        return Commit.from_proto_bytes(self.commit_bytes(height))

    def ext_commit(self, height: int) -> ExtendedCommit | None:
        raw = self.ext_commit_bytes(height)
        return None if raw is None else ExtendedCommit.from_proto_bytes(raw)

    def write_go_layout(self, db: plyvel.DB) -> None:
        """Fill `db` with the node's values under Go's keys (parts re-cut from the block bytes)."""
        with db.write_batch() as batch:
            for height in range(1, self.tip + 1):
                raw = self.block_bytes(height)
                for part in PartSet.from_data(raw).parts:
                    batch.put(keys.block_part_key(height, part.index), part.to_proto().SerializeToString())
                batch.put(keys.block_meta_key(height), self.meta_bytes(height))
                batch.put(keys.block_hash_key(self.block(height).hash()), str(height).encode())
                if height < self.tip:
                    batch.put(keys.block_commit_key(height), self.commit_bytes(height))
                ext = self.ext_commit_bytes(height)
                if ext is not None:
                    batch.put(keys.extended_commit_key(height), ext)
            batch.put(keys.seen_commit_key(self.tip), self.seen_commit_bytes())
            batch.put(keys.BLOCK_STORE_STATE_KEY, (self.folder / "blockstore_state.pb").read_bytes())


@cache
def _decoded_block(folder: Path, height: int) -> Block:
    return Block.from_proto_bytes((folder / "blocks" / f"{height}.pb").read_bytes())


LOCALNET_CHAIN = FixtureChain(LOCALNET, 310, "seen_commit_310.pb")
VOTEEXT_CHAIN = FixtureChain(VOTEEXT, 45, "seen_commit_45.pb")
