"""Start-up check that the block store and the state store belong together, before anything reads them.

The block store must end at the state's height or one above it (a crash while applying that block). An
empty block store beside a state at H is accepted only when state sync left its mark (CometBFT's
`offlineStateSyncHeightKey`, or the seen commit of H that both state-sync paths save): blocksync then
starts at H+1. Anything else is one DatabaseCorrupt line naming the stores, the heights and what to do.
"""

from __future__ import annotations

from cometsync.state.state import State
from cometsync.state.store import StateStore
from cometsync.store import BlockStore
from cometsync.store.errors import DatabaseCorrupt
from cometsync.store.integrity import BLOCK_STORE_ADVICE, check_block_store


def state_synced_at(block_store: BlockStore, state_store: StateStore, height: int) -> bool:
    """True when state sync bootstrapped the stores to `height` (and no block was stored since)."""
    if block_store.height != 0 or height <= 0:
        return False
    marked = state_store.load_offline_state_sync_height() == height
    return marked or block_store.load_seen_commit_bytes(height) is not None


def check_stores(
    block_store: BlockStore, state_store: StateStore, state: State | None, *, full: bool = False
) -> None:
    """Raise DatabaseCorrupt unless the block store is complete and fits the stored `state`."""
    check_block_store(block_store, full=full)
    if state is None:
        return
    blocks, states = block_store.database.path, state_store.database.path
    height, stored = state.last_block_height, block_store.height
    if stored == 0 and height > 0 and not state_synced_at(block_store, state_store, height):
        what = "was missing (created empty now)" if block_store.database.created else "is empty"
        raise DatabaseCorrupt(
            f"block store {blocks} {what} but the state store {states} is at height {height} and was not "
            f"bootstrapped by state sync: the blocks were lost; {BLOCK_STORE_ADVICE}"
        )
    if 0 < stored < height:
        raise DatabaseCorrupt(
            f"block store {blocks} ends at height {stored} but the state store {states} is at height "
            f"{height}: blocks {stored + 1}-{height} were lost; {BLOCK_STORE_ADVICE}"
        )
    if stored > height + 1:
        raise DatabaseCorrupt(
            f"state store {states} is at height {height} but the block store {blocks} ends at {stored}: "
            "the state store lost heights; restore it from a backup taken with this block store, or "
            "re-bootstrap this node (state-sync it, or remove its data directory and the app's data and "
            "sync from genesis)"
        )
