"""A reader of LevelDB's on-disk journal and MANIFEST, to check a database the way goleveldb recovers it.

goleveldb (CometBFT's backend) replays every journal numbered >= the manifest's journal number (or equal
to its previous journal number) starting from the manifest's last sequence, and drops any batch whose
sequence is below the expected one (`decodeBatchToMem`: "invalid sequence number"). C++ LevelDB may
leave such batches behind; these helpers find them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from cometsync.proto.wire import read_varint

BLOCK_SIZE = 32768
HEADER_SIZE = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
TAG_COMPARATOR, TAG_LOG_NUMBER, TAG_NEXT_FILE, TAG_LAST_SEQUENCE = 1, 2, 3, 4
TAG_COMPACT_POINTER, TAG_DELETED_FILE, TAG_NEW_FILE, TAG_PREV_LOG_NUMBER = 5, 6, 7, 9


def log_records(data: bytes) -> list[bytes]:
    """The logical records of a LevelDB log file (journal or manifest); a torn tail is ignored."""
    records: list[bytes] = []
    pending = b""
    offset = 0
    while offset + HEADER_SIZE <= len(data):
        left_in_block = BLOCK_SIZE - offset % BLOCK_SIZE
        if left_in_block < HEADER_SIZE:
            offset += left_in_block
            continue
        length, kind = struct.unpack_from("<HB", data, offset + 4)
        payload = data[offset + HEADER_SIZE : offset + HEADER_SIZE + length]
        offset += HEADER_SIZE + length
        if kind == 0 or len(payload) < length:
            break
        if kind == FULL:
            records.append(payload)
        elif kind == FIRST:
            pending = payload
        elif kind == MIDDLE:
            pending += payload
        elif kind == LAST:
            records.append(pending + payload)
            pending = b""
    return records


def _varint(data: bytes, offset: int) -> tuple[int, int]:
    return read_varint(data, offset, len(data))


def _skip_slice(data: bytes, offset: int) -> int:
    length, offset = _varint(data, offset)
    return offset + length


@dataclass
class ManifestState:
    """What goleveldb's session takes from the manifest before it replays journals."""

    journal_number: int = 0
    prev_journal_number: int = 0
    last_sequence: int = 0


def manifest_state(db_dir: Path) -> ManifestState:
    """The session state after applying every version edit of the MANIFEST named in CURRENT."""
    name = (db_dir / "CURRENT").read_text().strip()
    state = ManifestState()
    for edit in log_records((db_dir / name).read_bytes()):
        offset = 0
        while offset < len(edit):
            tag, offset = _varint(edit, offset)
            if tag == TAG_COMPARATOR:
                offset = _skip_slice(edit, offset)
            elif tag in (TAG_LOG_NUMBER, TAG_NEXT_FILE, TAG_LAST_SEQUENCE, TAG_PREV_LOG_NUMBER):
                value, offset = _varint(edit, offset)
                if tag == TAG_LOG_NUMBER:
                    state.journal_number = value
                elif tag == TAG_PREV_LOG_NUMBER:
                    state.prev_journal_number = value
                elif tag == TAG_LAST_SEQUENCE:
                    state.last_sequence = value
            elif tag == TAG_COMPACT_POINTER:
                _, offset = _varint(edit, offset)
                offset = _skip_slice(edit, offset)
            elif tag == TAG_DELETED_FILE:
                _, offset = _varint(edit, offset)
                _, offset = _varint(edit, offset)
            elif tag == TAG_NEW_FILE:
                for _ in range(3):
                    _, offset = _varint(edit, offset)
                offset = _skip_slice(edit, _skip_slice(edit, offset))
            else:
                raise ValueError(f"unknown version edit tag {tag} in {name}")
    return state


def journals_to_replay(db_dir: Path, state: ManifestState) -> list[Path]:
    """goleveldb's choice: journals numbered >= the manifest's, or equal to its previous one, in order."""
    journals = sorted(db_dir.glob("*.log"), key=lambda path: int(path.stem))
    return [
        path
        for path in journals
        if int(path.stem) >= state.journal_number or int(path.stem) == state.prev_journal_number
    ]


def goleveldb_dropped_batches(db_dir: Path) -> list[tuple[str, int, int]]:
    """(journal, batch sequence, expected minimum) of every batch goleveldb's recovery would skip."""
    state = manifest_state(db_dir)
    expected = state.last_sequence
    dropped: list[tuple[str, int, int]] = []
    for journal in journals_to_replay(db_dir, state):
        for batch in log_records(journal.read_bytes()):
            sequence, count = struct.unpack_from("<QI", batch)
            if sequence < expected:
                dropped.append((journal.name, sequence, expected))
                continue
            expected = sequence + count
    return dropped


def journal_sizes(db_dir: Path) -> dict[str, int]:
    return {path.name: path.stat().st_size for path in db_dir.glob("*.log")}
