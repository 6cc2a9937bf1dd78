"""The kvstore's storage boundary: a sorted byte map whose writes land atomically, in memory or in LevelDB.

The app logic only sees `KVStorage`; `MemoryStorage` backs tests and the in-memory mode, and
`LevelDBStorage` (plyvel) makes the app persistent with one `WriteBatch` per Commit, so a crash never
leaves half a block on disk.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import plyvel

from cometsync.store.db import flush_memtable

Writes = Mapping[bytes, bytes | None]
"""Keys to set (bytes) or delete (None), applied together."""


class KVStorage(Protocol):
    """What the kvstore app needs from its database."""

    def get(self, key: bytes) -> bytes | None: ...

    def items_with_prefix(self, prefix: bytes) -> list[tuple[bytes, bytes]]: ...

    def write(self, writes: Writes) -> None: ...

    def close(self) -> None: ...


class MemoryStorage:
    """A dict-backed `KVStorage`; nothing survives the process."""

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self._data.get(key)

    def items_with_prefix(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        return sorted((k, v) for k, v in self._data.items() if k.startswith(prefix))

    def write(self, writes: Writes) -> None:
        for key, value in writes.items():
            if value is None:
                self._data.pop(key, None)
            else:
                self._data[key] = value

    def close(self) -> None:
        self._data.clear()


class LevelDBStorage:
    """A LevelDB-backed `KVStorage`; each `write` is one synced `WriteBatch`."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = plyvel.DB(str(path), create_if_missing=True)
        flush_memtable(self._db)  # CometBFT's persistent_kvstore (goleveldb) may open data/kvstore.db

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._db.get(key)
        return value

    def items_with_prefix(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        with self._db.iterator(prefix=prefix) as it:
            return list(it)

    def write(self, writes: Writes) -> None:
        with self._db.write_batch(sync=True) as batch:
            for key, value in writes.items():
                if value is None:
                    batch.delete(key)
                else:
                    batch.put(key, value)

    def close(self) -> None:
        flush_memtable(self._db)
        self._db.close()
