"""Stores CometBFT can reopen without loss, that never create over existing data, and whose damage ends in
one clear error. Everything runs on real LevelDB directories (plyvel, C++ LevelDB)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import plyvel
import pytest
from blocksync_fixtures import LOCALNET_CHAIN, Node
from leveldb_files import goleveldb_dropped_batches, journal_sizes

from cometsync.state import StateStore
from cometsync.state.stores_check import check_stores
from cometsync.store import BlockStore, DatabaseCorrupt, StoreError
from cometsync.store.db import open_db
from cometsync.store.errors import StorageFailure
from cometsync.store.integrity import TAIL_HEIGHTS, check_block_store, describe_heights, heights_to_check

TIP = LOCALNET_CHAIN.tip
BATCHES = 3000
"""Enough 1 KiB batches to pass a 64 KiB memtable many times (background flushes during the writes)."""


def write_batches(path: Path, *, close_with_flush: bool) -> None:
    """Many small batches through a small memtable, so C++ LevelDB flushes in the background meanwhile."""
    db = plyvel.DB(str(path), create_if_missing=True, write_buffer_size=64 * 1024)
    for index in range(BATCHES):
        with db.write_batch() as batch:
            batch.put(b"H:%d" % index, os.urandom(1024))
            batch.put(b"blockStore", b"%d" % index)
    if close_with_flush:
        db.compact_range(start=b"\x00", stop=b"\x00")
    db.close()


def test_plain_cpp_leveldb_leaves_batches_goleveldb_drops(tmp_path: Path) -> None:
    """The bug CometBFT met (blocks vanished): the checker below must see it, or it proves nothing."""
    write_batches(tmp_path / "db", close_with_flush=False)
    assert goleveldb_dropped_batches(tmp_path / "db")


def test_closed_database_has_an_empty_journal_goleveldb_replays_fully(tmp_path: Path) -> None:
    path = tmp_path / "db"
    write_batches(path, close_with_flush=False)
    open_db(path).close()  # what every cometsync store does at open and close
    assert goleveldb_dropped_batches(path) == []
    assert set(journal_sizes(path).values()) == {0}
    reopened = plyvel.DB(str(path))
    assert reopened.get(b"blockStore") == b"%d" % (BATCHES - 1)
    assert all(reopened.get(b"H:%d" % index) is not None for index in range(BATCHES))
    reopened.close()


def test_block_and_state_stores_close_with_empty_journals(tmp_path: Path) -> None:
    node = Node(tmp_path, LOCALNET_CHAIN)
    node.apply_chain(TIP)
    node.close()
    for name in ("blockstore.db", "state.db"):
        assert goleveldb_dropped_batches(tmp_path / name) == [], name
        assert set(journal_sizes(tmp_path / name).values()) == {0}, name


CRASHING_WRITER = textwrap.dedent(
    """
    import os, sys
    import plyvel
    db = plyvel.DB(sys.argv[1], create_if_missing=True, write_buffer_size=64 * 1024)
    for index in range(3000):
        db.put(b"H:%d" % index, os.urandom(1024))
    os._exit(0)  # no close, no flush: as a SIGKILL leaves it
    """
)


def test_after_a_crash_the_next_open_recovers_and_flushes_before_any_read(tmp_path: Path) -> None:
    path = tmp_path / "db"
    subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(path)], check=True, timeout=120)
    assert goleveldb_dropped_batches(path)
    db = open_db(path)
    try:  # already consistent for goleveldb while still open: the journal cometsync writes next is new
        assert goleveldb_dropped_batches(path) == []
        assert db.get(b"H:2999") is not None
    finally:
        db.close()
    assert set(journal_sizes(path).values()) == {0}


# ---------------------------------------------------------------- never create over existing data


def built_store(tmp_path: Path) -> Path:
    node = Node(tmp_path / "data", LOCALNET_CHAIN)
    node.apply_chain(TIP)
    node.close()
    return tmp_path / "data"


def test_tables_without_current_are_refused_and_left_alone(tmp_path: Path) -> None:
    data = built_store(tmp_path)
    (data / "blockstore.db" / "CURRENT").unlink()
    before = sorted(path.name for path in (data / "blockstore.db").iterdir())
    with pytest.raises(DatabaseCorrupt) as raised:
        BlockStore.open(data / "blockstore.db")
    message = str(raised.value)
    assert str(data / "blockstore.db") in message and "no CURRENT file" in message
    assert "restore CURRENT" in message and "\n" not in message
    assert sorted(path.name for path in (data / "blockstore.db").iterdir()) == before
    manifest = next((data / "blockstore.db").glob("MANIFEST-*")).name
    (data / "blockstore.db" / "CURRENT").write_text(manifest + "\n")  # the advice works
    store = BlockStore.open(data / "blockstore.db")
    assert store.height == TIP
    store.close()


def test_a_missing_or_empty_directory_is_created(tmp_path: Path) -> None:
    (tmp_path / "empty.db").mkdir()
    for name in ("empty.db", "absent.db"):
        db = open_db(tmp_path / name)
        assert db.created and db.get(b"x") is None
        db.close()
    assert not open_db(tmp_path / "absent.db").created


# ---------------------------------------------------------------- damage found at start


def corrupt_tables(db_dir: Path, *, truncate: bool) -> None:
    """Overwrite (or cut) every table's data blocks, keeping index and footer so the tables still open."""
    for table in db_dir.glob("*.ldb"):
        data = bytearray(table.read_bytes())
        if truncate:
            table.write_bytes(bytes(data[: len(data) // 2]))
            continue
        for offset in range(0, len(data) * 3 // 4, 7):
            data[offset] ^= 0x5A
        table.write_bytes(bytes(data))


def open_and_check(data: Path) -> None:
    block_store = BlockStore.open(data / "blockstore.db")
    state_store = StateStore.open(data / "state.db")
    try:
        check_stores(block_store, state_store, state_store.load())
    finally:
        block_store.close()
        state_store.close()


@pytest.mark.parametrize("truncate", [False, True], ids=["corrupted", "truncated"])
def test_a_damaged_table_is_one_error_naming_the_database(tmp_path: Path, truncate: bool) -> None:
    data = built_store(tmp_path)
    corrupt_tables(data / "blockstore.db", truncate=truncate)
    with pytest.raises(StoreError) as raised:
        open_and_check(data)
    message = str(raised.value)
    assert str(data / "blockstore.db") in message and "\n" not in message
    assert "restore" in message


def test_a_block_missing_in_the_middle_is_named_with_its_height(tmp_path: Path) -> None:
    data = built_store(tmp_path)
    raw = plyvel.DB(str(data / "blockstore.db"))
    for key in (b"H:150", b"P:150:0", b"H:151", b"C:200"):
        raw.delete(key)
    raw.close()
    with pytest.raises(DatabaseCorrupt) as raised:
        open_and_check(data)
    message = str(raised.value)
    assert f"claims heights 1..{TIP}" in message
    assert "height(s) 150-151, 200 are incomplete (missing H:150)" in message
    assert "restore the block store from a backup" in message and "reset the app's data" not in message


def test_a_lost_block_store_beside_a_state_says_what_to_do(tmp_path: Path) -> None:
    data = built_store(tmp_path)
    shutil.rmtree(data / "blockstore.db")
    with pytest.raises(DatabaseCorrupt) as raised:
        open_and_check(data)
    message = str(raised.value)
    assert f"was missing (created empty now) but the state store {data / 'state.db'} is at height {TIP}" in (
        message
    )
    assert "restore the block store" in message and "state-sync" in message
    assert "reset the app's data" not in message
    with pytest.raises(DatabaseCorrupt, match=r"blockstore.db is empty but the state store"):
        open_and_check(data)


def test_a_block_store_behind_the_state_names_the_lost_heights(tmp_path: Path) -> None:
    node = Node(tmp_path / "short", LOCALNET_CHAIN)
    node.apply_chain(200)
    node.block_store.close()
    data = built_store(tmp_path)
    shutil.rmtree(data / "blockstore.db")
    shutil.copytree(tmp_path / "short" / "blockstore.db", data / "blockstore.db")
    node.state_store.close()
    with pytest.raises(
        DatabaseCorrupt, match=f"ends at height 200 .* at height {TIP}: blocks 201-{TIP} were lost"
    ):
        open_and_check(data)


def test_a_state_synced_home_is_accepted(tmp_path: Path) -> None:
    """CometBFT's offline state sync: state at H, empty block store, `offlineStateSyncHeightKey` = H."""
    data = built_store(tmp_path)
    shutil.rmtree(data / "blockstore.db")
    raw = plyvel.DB(str(data / "state.db"))
    raw.put(b"offlineStateSyncHeightKey", bytes([(TIP << 1) & 0x7F | 0x80, (TIP << 1) >> 7]))
    raw.close()
    open_and_check(data)
    state_store = StateStore.open(data / "state.db")
    assert state_store.load_offline_state_sync_height() == TIP
    state_store.close()


def test_quick_check_reads_the_ends_the_tail_and_a_sample() -> None:
    heights = heights_to_check(1, 1_000_000)
    assert heights[0] == 1 and heights[-1] == 1_000_000
    assert set(range(1_000_000 - TAIL_HEIGHTS, 1_000_001)) <= set(heights)
    assert len(heights) < TAIL_HEIGHTS + 100
    assert heights_to_check(5, 40) == list(range(5, 41))
    assert heights_to_check(1, 1_000_000, full=True) == list(range(1, 1_000_001))
    assert heights_to_check(0, 0) == []
    assert describe_heights([9, 3, 4, 5, 12]) == "3-5, 9, 12"


def test_full_check_reads_every_part(tmp_path: Path) -> None:
    data = built_store(tmp_path)
    store = BlockStore.open(data / "blockstore.db")
    check_block_store(store, full=True)
    store.close()


# ---------------------------------------------------------------- run-time errors are typed and counted


def test_run_time_read_errors_are_typed_counted_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = built_store(tmp_path)
    corrupt_tables(data / "blockstore.db", truncate=False)
    store = BlockStore.open(data / "blockstore.db")
    try:
        with caplog.at_level(logging.ERROR, logger="cometsync.store.db"):
            for height in (10, 20, 30):
                with pytest.raises(DatabaseCorrupt):
                    store.load_block_bytes(height)
        assert store.database.failures == 3
        assert len(caplog.records) == 1 and "counted, not logged" in caplog.records[0].getMessage()
    finally:
        store.close()
    with pytest.raises(StorageFailure, match="is closed"):
        store.load_block_meta(1)
