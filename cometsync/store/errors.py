"""Typed store failures, so a node can tell a locked or damaged data directory from a programming error."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every block/state store failure."""


class DatabaseLocked(StoreError):
    """The LevelDB directory is held by another process (another node on the same home)."""


class DatabaseCorrupt(StoreError):
    """A value or the database itself cannot be read back; the data directory needs repair or a resync."""


class StorageFailure(StoreError):
    """A read or write failed at run time for a reason other than corruption (I/O error, closed handle)."""


class InvalidSave(StoreError):
    """A save that would break the store's invariants (non-contiguous height, mismatched commit...)."""
