"""Counters the reactor keeps while syncing, for RPC status and Prometheus (CometBFT's blocksync metrics)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (seconds) of the verify/apply histograms."""


@dataclass
class Durations:
    """A histogram of durations as plain numbers (the Prometheus collector reads it at scrape time)."""

    buckets: tuple[float, ...] = DURATION_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    """Observations per bucket, not cumulative; the last slot is above every bound (+Inf)."""
    total: float = 0.0
    count: int = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, seconds)] += 1
        self.total += seconds
        self.count += 1


@dataclass
class SyncMetrics:
    """Running totals of blocksync, fed by the reactor (blocks, bans) and the sync loop (timings)."""

    syncing: bool = False
    blocks_synced: int = 0
    txs_synced: int = 0
    bytes_synced: int = 0
    latest_block_height: int = 0
    last_block_size: int = 0
    last_block_txs: int = 0
    peer_bans: int = 0
    verify_seconds: Durations = field(default_factory=Durations)
    """Time the sync loop spends verifying a block against the next one's commit."""
    apply_seconds: Durations = field(default_factory=Durations)
    """Time from a verified block's pop to its state being applied (store save and ABCI)."""

    def record_block(self, height: int, num_txs: int, size: int) -> None:
        self.blocks_synced += 1
        self.txs_synced += num_txs
        self.bytes_synced += size
        self.latest_block_height = height
        self.last_block_size = size
        self.last_block_txs = num_txs
