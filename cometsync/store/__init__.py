"""CometBFT v0.38-compatible block store on LevelDB (same keys and values as `data/blockstore.db`)."""

from cometsync.store.block_store import BlockStore
from cometsync.store.db import open_db
from cometsync.store.errors import DatabaseCorrupt, DatabaseLocked, InvalidSave, StoreError

__all__ = ["BlockStore", "DatabaseCorrupt", "DatabaseLocked", "InvalidSave", "StoreError", "open_db"]
