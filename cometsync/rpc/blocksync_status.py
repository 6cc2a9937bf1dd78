"""`/blocksync_status`: cometsync's view of a running sync (pool, rates, ETA, caught-up decision, peers)."""

from __future__ import annotations

from collections.abc import Sequence

from cometsync.pool import PeerStatus
from cometsync.rpc.env import BlocksyncView, PeerView


def _optional_str(value: int | None) -> str | None:
    return None if value is None else str(value)


def _peer_json(peer: PeerStatus, addresses: dict[str, str]) -> dict[str, object]:
    return {
        "id": peer.peer_id,
        "address": addresses.get(peer.peer_id, ""),
        "base": str(peer.base),
        "height": str(peer.height),
        "pending": peer.num_pending,
        "blocks_per_second": round(peer.block_rate, 3),
        "bytes_per_second": round(peer.byte_rate, 1),
        "blocks_delivered": str(peer.blocks_delivered),
    }


def blocksync_status_json(view: BlocksyncView, peers: Sequence[PeerView], now: float) -> dict[str, object]:
    """Snapshot the pool; also feeds the progress meter so a status poll alone yields a rate. The meter
    counts applied blocks, as the node's progress reporter feeding the same meter does."""
    status = view.pool.status()
    caught_up = view.pool.is_caught_up()
    applied = max(0, status.height - 1)  # the pool's height is the next block to apply
    view.progress.observe(now, applied)
    addresses = {p.node_info.node_id: f"{p.remote_address[0]}:{p.remote_address[1]}" for p in peers}
    eta = view.progress.eta_seconds(applied, status.max_peer_height)
    counters = view.counters
    return {
        "running": status.running,
        "height": str(status.height),
        "start_height": str(status.start_height),
        "max_peer_height": str(status.max_peer_height),
        "num_requesters": status.num_requesters,
        "pending_requests": status.num_awaiting_block,
        "in_flight_requests": status.num_in_flight,
        "bytes_held": str(status.bytes_held),
        "window_bytes": str(status.window_bytes),
        "block_size_estimate": _optional_str(status.block_size_estimate),
        "blocks_per_second": round(view.progress.blocks_per_second(), 3),
        "eta_seconds": None if eta is None else round(eta, 1),
        "caught_up": caught_up.caught_up,
        "caught_up_reason": caught_up.reason,
        "blocks_synced": _optional_str(counters.blocks_synced if counters else None),
        "txs_synced": _optional_str(counters.txs_synced if counters else None),
        "peers": [_peer_json(peer, addresses) for peer in status.peers],
        "banned": [
            {"id": ban.peer_id, "remaining_seconds": round(ban.remaining_seconds, 1)} for ban in status.banned
        ],
    }
