"""BlockStore against the raw values of a real CometBFT v0.38.25 blockstore.db, in Go's key layout."""

from __future__ import annotations

from pathlib import Path

import plyvel
import pytest
from state_fixtures import LOCALNET_CHAIN, VOTEEXT_CHAIN, FixtureChain

from cometsync.store import BlockStore, DatabaseCorrupt, DatabaseLocked, InvalidSave, StoreError, keys
from cometsync.types import BlockMeta, PartSet


def _go_layout_store(chain: FixtureChain, path: Path) -> BlockStore:
    db = plyvel.DB(str(path), create_if_missing=True)
    chain.write_go_layout(db)
    db.close()
    return BlockStore.open(path)


def _save_chain(chain: FixtureChain, store: BlockStore, upto: int) -> None:
    for height in range(store.height + 1, upto + 1):
        block = chain.block(height)
        ext = chain.ext_commit(height)
        seen = ext.to_commit() if ext is not None else chain.seen_commit(height)
        store.save_block(block, PartSet.from_data(block.to_proto_bytes()), seen, ext)


@pytest.mark.parametrize("chain", [LOCALNET_CHAIN, VOTEEXT_CHAIN], ids=["localnet", "voteext"])
def test_loaders_read_a_cometbft_blockstore(chain: FixtureChain, tmp_path: Path) -> None:
    store = _go_layout_store(chain, tmp_path / "blockstore.db")
    assert (store.base, store.height, store.size()) == (1, chain.tip, chain.tip)
    for height in range(1, chain.tip + 1):
        assert store.load_block_bytes(height) == chain.block_bytes(height)
        assert store.load_block_meta_bytes(height) == chain.meta_bytes(height)
        meta = store.load_block_meta(height)
        block = store.load_block(height)
        assert meta is not None and block is not None
        assert block.hash() == meta.block_id.hash
        part = store.load_block_part(height, 0)
        assert part is not None and part.proof.total == meta.block_id.part_set_header.total
        if height < chain.tip:
            commit = store.load_block_commit(height)
            assert commit is not None and commit.to_proto_bytes() == chain.commit_bytes(height)
        ext = store.load_extended_commit(height)
        assert (ext is None) == (chain.ext_commit_bytes(height) is None)
        if ext is not None:
            assert ext.to_proto_bytes() == chain.ext_commit_bytes(height)
    seen = store.load_seen_commit(chain.tip)
    assert seen is not None and seen.to_proto_bytes() == chain.seen_commit_bytes()
    by_hash = store.load_block_by_hash(chain.block(7).hash())
    assert by_hash is not None and by_hash.height == 7
    assert store.load_block(chain.tip + 1) is None and store.load_block_commit(chain.tip) is None
    store.close()


@pytest.mark.parametrize("chain", [LOCALNET_CHAIN, VOTEEXT_CHAIN], ids=["localnet", "voteext"])
def test_save_block_writes_the_values_cometbft_wrote(chain: FixtureChain, tmp_path: Path) -> None:
    go_store = _go_layout_store(chain, tmp_path / "go.db")
    go_store.close()
    ours = BlockStore.open(tmp_path / "ours.db")
    _save_chain(chain, ours, chain.tip)
    assert (ours.base, ours.height) == (1, chain.tip)
    ours.close()
    go_db = plyvel.DB(str(tmp_path / "go.db"))
    our_db = plyvel.DB(str(tmp_path / "ours.db"))
    go_items = dict(go_db.iterator())
    our_items = dict(our_db.iterator())
    assert len(go_items) > 4 * chain.tip
    for key, value in go_items.items():
        assert our_items.get(key) == value, key
    # Only what the fixture did not export may differ: C:0 (block 1's empty LastCommit) and old seen commits.
    extra = {key for key in our_items if key not in go_items}
    assert extra == {keys.block_commit_key(0)} | {keys.seen_commit_key(h) for h in range(1, chain.tip)}
    go_db.close()
    our_db.close()


def test_meta_matches_blockmeta_from_block() -> None:
    block = LOCALNET_CHAIN.block(202)
    part_set = PartSet.from_data(block.to_proto_bytes())
    assert part_set.total == 5
    assert BlockMeta.from_block(block, part_set).to_proto_bytes() == LOCALNET_CHAIN.meta_bytes(202)


def test_store_survives_reopen_and_prunes(tmp_path: Path) -> None:
    path = tmp_path / "data" / "blockstore.db"
    store = BlockStore.open(path)
    assert (store.base, store.height, store.size()) == (0, 0, 0)
    _save_chain(LOCALNET_CHAIN, store, 130)
    store.close()
    store = BlockStore.open(path)
    assert (store.base, store.height) == (1, 130)
    assert store.prune_blocks(100) == 99
    assert (store.base, store.height) == (100, 130)
    assert store.load_block(99) is None and store.load_block_meta(1) is None
    assert store.load_block_commit(99) is None and store.load_block_part(62, 1) is None
    assert store.load_block_by_hash(LOCALNET_CHAIN.block(50).hash()) is None
    block_127 = store.load_block(127)
    assert block_127 is not None and block_127.to_proto_bytes() == LOCALNET_CHAIN.block_bytes(127)
    with pytest.raises(StoreError, match="lower than base"):
        store.prune_blocks(50)
    with pytest.raises(StoreError, match="beyond the latest height"):
        store.prune_blocks(131)
    store.close()
    store = BlockStore.open(path)
    assert (store.base, store.height) == (100, 130)
    _save_chain(LOCALNET_CHAIN, store, 131)
    assert store.height == 131
    store.close()


def test_save_rejects_gaps_and_mismatched_commits(tmp_path: Path) -> None:
    store = BlockStore.open(tmp_path / "blockstore.db")
    _save_chain(LOCALNET_CHAIN, store, 2)
    block = LOCALNET_CHAIN.block(4)
    with pytest.raises(InvalidSave, match="contiguous"):
        store.save_block(block, PartSet.from_data(block.to_proto_bytes()), LOCALNET_CHAIN.seen_commit(4))
    block = LOCALNET_CHAIN.block(3)
    with pytest.raises(InvalidSave, match="seen commit"):
        store.save_block(block, PartSet.from_data(block.to_proto_bytes()), LOCALNET_CHAIN.seen_commit(2))
    assert store.height == 2 and store.load_block(3) is None
    store.close()


def test_open_errors_are_typed(tmp_path: Path) -> None:
    path = tmp_path / "blockstore.db"
    store = BlockStore.open(path)
    with pytest.raises(DatabaseLocked, match="locked by another process"):
        BlockStore.open(path)
    store.close()
    db = plyvel.DB(str(path))
    db.put(keys.block_meta_key(5), b"\xff\xff\xff")
    db.put(keys.BLOCK_STORE_STATE_KEY, b"\x08\x05\x10\x05")
    db.close()
    store = BlockStore.open(path)
    with pytest.raises(DatabaseCorrupt, match="H:5"):
        store.load_block_meta(5)
    store.close()
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StoreError):
        BlockStore.open(tmp_path / "file" / "db")
