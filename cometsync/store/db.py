"""Opening a LevelDB directory the way CometBFT's goleveldb backend lays it out, with typed errors."""

from __future__ import annotations

from pathlib import Path

import plyvel

from cometsync.store.errors import DatabaseCorrupt, DatabaseLocked, StoreError


def open_db(path: Path) -> plyvel.DB:
    """Open (creating if missing) the LevelDB at `path`, e.g. `<home>/data/blockstore.db`."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return plyvel.DB(str(path), create_if_missing=True)
    except plyvel.CorruptionError as exc:
        raise DatabaseCorrupt(
            f"database {path} is corrupt ({exc}); restore it from a backup or remove it and resync"
        ) from exc
    except plyvel.IOError as exc:
        if "lock" in str(exc).lower():
            raise DatabaseLocked(
                f"database {path} is locked by another process: stop the other node using this home first"
            ) from exc
        raise StoreError(f"cannot open database {path}: {exc}") from exc
    except OSError as exc:
        raise StoreError(f"cannot open database {path}: {exc}") from exc


class DatabaseOwner:
    """Base of the stores: owns one LevelDB handle.

    `close()` is idempotent and drops the handle at once: a plyvel DB still referenced when the
    interpreter exits fails in its finalizer ("Error in sys.excepthook" at exit).
    """

    _db: plyvel.DB

    def close(self) -> None:
        if hasattr(self, "_db"):
            self._db.close()
            del self._db
