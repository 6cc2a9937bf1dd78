"""Counters the reactor keeps while syncing, for RPC status and Prometheus (CometBFT's blocksync metrics)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SyncMetrics:
    """Running totals; `rate(now)` is blocks/s since blocksync started."""

    syncing: bool = False
    started_at: float | None = None
    blocks_synced: int = 0
    txs_synced: int = 0
    bytes_synced: int = 0
    latest_block_height: int = 0
    last_block_size: int = 0
    last_block_txs: int = 0

    def record_block(self, height: int, num_txs: int, size: int) -> None:
        self.blocks_synced += 1
        self.txs_synced += num_txs
        self.bytes_synced += size
        self.latest_block_height = height
        self.last_block_size = size
        self.last_block_txs = num_txs

    def rate(self, now: float) -> float:
        if self.started_at is None or now <= self.started_at:
            return 0.0
        return self.blocks_synced / (now - self.started_at)
