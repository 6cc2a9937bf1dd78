"""LevelDB directories that CometBFT's goleveldb can reopen without loss, with typed, counted errors.

* Open never creates over existing data: a directory holding tables but no `CURRENT` is refused (C++
  LevelDB would start an empty database there and delete the tables).
* Reads verify block checksums and the database runs with paranoid checks (goleveldb's strict default).
* The memtable is flushed right after open (finishing a crashed run's recovery) and at close, so the
  newest journal is empty: goleveldb skips journal batches numbered below the manifest's last sequence,
  which C++ LevelDB leaves behind after a background flush (the blocks in them would vanish).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import plyvel

from cometsync.store.errors import DatabaseCorrupt, DatabaseLocked, StorageFailure, StoreError

log = logging.getLogger(__name__)

TABLE_SUFFIXES = (".ldb", ".sst", ".log")
FLUSH_KEY = b"\x00"
"""An empty range below every CometBFT key: `compact_range` over it flushes the memtable and nothing else."""


def _has_leveldb_files(path: Path) -> bool:
    return any(
        entry.suffix in TABLE_SUFFIXES or entry.name.startswith("MANIFEST-") for entry in path.iterdir()
    )


def _check_openable(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise StoreError(f"database {path} is not a directory")
    if path.is_dir() and not (path / "CURRENT").exists() and _has_leveldb_files(path):
        raise DatabaseCorrupt(
            f"database {path} holds LevelDB tables but no CURRENT file; refusing to open it (LevelDB would "
            "replace it with an empty database): restore CURRENT (one line naming the newest MANIFEST-"
            "file, e.g. `ls {path}/MANIFEST-*`) or the directory from a backup"
        )


class Database:
    """One LevelDB handle. Every failure is a StoreError; run-time ones are counted and logged once."""

    def __init__(self, raw: plyvel.DB, path: Path, *, created: bool = False) -> None:
        self._raw: plyvel.DB | None = raw
        self.path = path
        self.created = created
        """True when this open made a new, empty database (there was none at `path`)."""
        self.failures = 0
        """Storage errors met after open (the first one is logged, the rest only counted)."""

    @property
    def name(self) -> str:
        return self.path.name

    def _handle(self) -> plyvel.DB:
        if self._raw is None:
            raise StorageFailure(f"database {self.path} is closed")
        return self._raw

    def failure(self, action: str, exc: Exception) -> StoreError:
        """The typed error for a failed LevelDB read or write (counted and logged by `report`)."""
        corrupt = isinstance(exc, plyvel.CorruptionError)
        kind = DatabaseCorrupt if corrupt else StorageFailure
        advice = "restore it from a backup or re-sync this node"
        advice = advice if corrupt else f"check the disk and the files, or {advice}"
        return self.report(kind(f"database {self.path}: {action} failed ({_reason(exc)}); {advice}"))

    def report(self, error: StoreError) -> StoreError:
        """Count a run-time storage error; only the first one of this database is logged."""
        self.failures += 1
        if self.failures == 1:
            log.error("%s (further storage errors of %s are counted, not logged)", error, self.name)
        return error

    def get(self, key: bytes) -> bytes | None:
        try:
            value: bytes | None = self._handle().get(key, verify_checksums=True)
        except plyvel.Error as exc:
            raise self.failure(f"reading {key[:40]!r}", exc) from exc
        return value

    @contextmanager
    def write_batch(self) -> Iterator[Any]:
        """One synced batch; it is written when the block ends without an exception."""
        with self.staged_batch() as (batch, pending):
            yield batch
        pending.write()

    @contextmanager
    def staged_batch(
        self, before: Callable[[], None] | None = None, after: Callable[[], None] | None = None
    ) -> Iterator[tuple[Any, PendingWrite]]:
        """A synced batch filled in the block and written later by `PendingWrite.write()`, which may run on
        another thread (LevelDB releases the GIL while it writes and syncs); `before` and `after` run
        around that write."""
        try:
            batch = self._handle().write_batch(sync=True)
        except plyvel.Error as exc:
            raise self.failure("a synced write", exc) from exc
        yield batch, PendingWrite(self, batch, before, after)

    def flush(self) -> None:
        """Move the memtable into a table and start an empty journal (see the module docstring)."""
        try:
            flush_memtable(self._handle())
        except plyvel.Error as exc:
            raise self.failure("flushing the memtable", exc) from exc

    def close(self) -> None:
        """Flush, then close; idempotent. A flush failure is logged: the data is safe in the journal."""
        if self._raw is None:
            return
        try:
            self.flush()
        except StoreError as exc:
            log.warning("closing %s without a flush: %s", self.path, exc)
        self._raw.close()
        self._raw = None


def flush_memtable(raw: plyvel.DB) -> None:
    """Force C++ LevelDB's memtable into a table and start an empty journal, compacting nothing else."""
    raw.compact_range(start=FLUSH_KEY, stop=FLUSH_KEY)


def _reason(exc: Exception) -> str:
    reason = exc.args[0] if exc.args else exc
    return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)


def open_db(path: Path) -> Database:
    """Open the LevelDB at `path` (e.g. `<home>/data/blockstore.db`), creating it only where there is none."""
    try:
        _check_openable(path)
        create = not (path / "CURRENT").exists()
        if create:
            path.mkdir(parents=True, exist_ok=True)
        raw = plyvel.DB(str(path), create_if_missing=create, paranoid_checks=True)
    except plyvel.CorruptionError as exc:
        raise DatabaseCorrupt(
            f"database {path} is corrupt ({_reason(exc)}); restore it from a backup or re-sync this node"
        ) from exc
    except plyvel.IOError as exc:
        if "lock" in str(exc).lower():
            raise DatabaseLocked(
                f"database {path} is locked by another process: stop the other node using this home first"
            ) from exc
        raise StoreError(f"cannot open database {path}: {_reason(exc)}") from exc
    except OSError as exc:
        raise StoreError(f"cannot open database {path}: {exc}") from exc
    db = Database(raw, path, created=create)
    db.flush()
    return db


class DatabaseOwner:
    """Base of the stores: owns one Database; `close()` (idempotent) flushes it for CometBFT."""

    _db: Database

    @property
    def database(self) -> Database:
        return self._db

    def close(self) -> None:
        self._db.close()


class PendingWrite:
    """A filled synced batch of one database, written once by `write()` (on any thread)."""

    def __init__(
        self,
        db: Database,
        batch: Any,
        before: Callable[[], None] | None,
        after: Callable[[], None] | None,
    ) -> None:
        self._db = db
        self._batch = batch
        self._before = before
        self._after = after

    def write(self) -> None:
        if self._before is not None:
            self._before()
        try:
            self._batch.write()
        except plyvel.Error as exc:
            raise self._db.failure("a synced write", exc) from exc
        if self._after is not None:
            self._after()
