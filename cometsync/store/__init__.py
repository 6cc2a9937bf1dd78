"""CometBFT v0.38-compatible block store on LevelDB (same keys and values as `data/blockstore.db`)."""

from cometsync.store.block_store import BlockStore
from cometsync.store.db import Database, open_db
from cometsync.store.errors import DatabaseCorrupt, DatabaseLocked, InvalidSave, StorageFailure, StoreError

__all__ = [
    "BlockStore",
    "Database",
    "DatabaseCorrupt",
    "DatabaseLocked",
    "InvalidSave",
    "StorageFailure",
    "StoreError",
    "open_db",
]
