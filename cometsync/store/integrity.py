"""Start-up check of a block store: the range `base..height` it claims must really be there.

A quick check (the default) looks at both ends, the last `TAIL_HEIGHTS` heights (an unflushed journal
loses the newest blocks) and `SAMPLES` heights spread over the range: a few thousand key reads whatever
the chain's length. `full=True` checks every height and every part.
"""

from __future__ import annotations

from collections.abc import Iterable

from cometsync.store import keys
from cometsync.store.block_store import BlockStore
from cometsync.store.errors import DatabaseCorrupt

TAIL_HEIGHTS = 1000
SAMPLES = 64


def heights_to_check(base: int, height: int, *, full: bool = False) -> list[int]:
    """The heights a check reads, ascending: all of them, or the ends, the tail and an even sample."""
    if height == 0:
        return []
    if full or height - base < TAIL_HEIGHTS + SAMPLES:
        return list(range(base, height + 1))
    step = (height - base) // SAMPLES
    chosen = set(range(base, height + 1, step)) | set(range(height - TAIL_HEIGHTS, height + 1))
    return sorted(chosen | {base})


def missing_pieces(store: BlockStore, height: int, *, all_parts: bool) -> list[str]:
    """Keys of `height` that are absent or unreadable: meta, parts, its commit and the seen commit on top."""
    meta = store.load_block_meta(height)
    if meta is None:
        return [keys.block_meta_key(height).decode()]
    if meta.header.height != height:
        return [f"{keys.block_meta_key(height).decode()} (holds height {meta.header.height})"]
    total = meta.block_id.part_set_header.total
    indexes = range(total) if all_parts else sorted({0, total - 1})
    missing = [
        keys.block_part_key(height, index).decode()
        for index in indexes
        if store.load_block_part_bytes(height, index) is None
    ]
    if height < store.height and store.load_block_commit_bytes(height) is None:
        missing.append(keys.block_commit_key(height).decode())
    if height == store.height and store.load_seen_commit_bytes(height) is None:
        missing.append(keys.seen_commit_key(height).decode())
    return missing


def check_block_store(store: BlockStore, *, full: bool = False) -> None:
    """Raise DatabaseCorrupt (one line: the database, the heights, what to do) if a checked height is
    incomplete; decoding errors of stored values surface as DatabaseCorrupt too."""
    damaged: list[int] = []
    first_problem = ""
    for height in heights_to_check(store.base, store.height, full=full):
        missing = missing_pieces(store, height, all_parts=full)
        if missing:
            damaged.append(height)
            first_problem = first_problem or ", ".join(missing[:3])
    if damaged:
        raise DatabaseCorrupt(
            f"block store {store.database.path} claims heights {store.base}..{store.height} but "
            f"height(s) {describe_heights(damaged)} are incomplete (missing {first_problem}): "
            f"{BLOCK_STORE_ADVICE}"
        )


BLOCK_STORE_ADVICE = (
    "restore the block store from a backup taken with this state, or re-bootstrap this node "
    "(state-sync it, or remove its data directory and the app's data and sync from genesis)"
)


def describe_heights(heights: Iterable[int]) -> str:
    """`3, 7-9, 12`: ascending heights as ranges."""
    spans: list[list[int]] = []
    for height in sorted(heights):
        if spans and height == spans[-1][1] + 1:
            spans[-1][1] = height
        else:
            spans.append([height, height])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
