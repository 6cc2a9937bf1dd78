"""One block-serving peer as the pool sees it: its claimed range, requests it owes us, liveness and rates."""

from __future__ import annotations

import math

from cometsync.pool.config import PoolConfig
from cometsync.pool.flowrate import RateMonitor


class PoolPeer:
    """Book-keeping for a peer that sent a StatusResponse; plain state, the pool decides what it means.

    Liveness is judged on blocks: the time a block is awaited (latency, independent of how much work we
    give the peer and of block size) and a timeout on delivering none at all. Bytes/s is kept for status.
    """

    def __init__(self, peer_id: str, base: int, height: int, now: float, config: PoolConfig) -> None:
        self.peer_id = peer_id
        self.base = base
        self.height = height
        self.num_pending = 0
        self.waiting_since: float | None = None
        """Since when the peer owes us a block without having sent one (None: owes nothing)."""
        self.refused_from: int | None = None
        """Lowest claimed height the peer answered NoBlockResponse for: proof it cannot serve from there."""
        self.sort_rate = 0.0
        self.blocks_delivered = 0
        self.latency: float | None = None
        self.latency_samples = 0
        self._config = config
        self._bytes = self._new_bytes_monitor(now)
        self._blocks = RateMonitor(now, config.rate_sample_period, config.rate_window)

    @property
    def servable_height(self) -> int:
        """The claimed height capped below its lowest refusal (claims are forgeable, refusals are not)."""
        if self.refused_from is None:
            return self.height
        return min(self.height, self.refused_from - 1)

    def can_serve(self, height: int) -> bool:
        return self.base <= height <= self.servable_height

    def refused(self, height: int) -> bool:
        """A NoBlockResponse for `height`; True if the peer claims it (a lie, unless it just pruned it)."""
        if not self.base <= height <= self.height:
            return False
        self.refused_from = height if self.refused_from is None else min(self.refused_from, height)
        return True

    def add_pending(self, now: float) -> None:
        """A request was sent; the first outstanding one restarts the rate monitors and the timeout."""
        if self.num_pending == 0:
            self._bytes = self._new_bytes_monitor(now)
            self._blocks = RateMonitor(now, self._config.rate_sample_period, self._config.rate_window)
            self.waiting_since = now
        self.num_pending += 1

    def release_pending(self) -> None:
        """A request ended without a block (NoBlockResponse, retry, pop); CometBFT never frees this."""
        self.num_pending = max(0, self.num_pending - 1)
        if self.num_pending == 0:
            self.waiting_since = None

    def delivered(self, now: float, size: int, requested_at: float | None) -> None:
        """A block arrived (`requested_at` is None for an answer we had given up on): update liveness."""
        self.blocks_delivered += 1
        self._bytes.record(now, size)
        self._blocks.record(now, 1)
        if requested_at is not None:
            self.num_pending -= 1
            self._add_latency(now - requested_at)
        self.waiting_since = now if self.num_pending > 0 else None

    def byte_rate(self, now: float) -> float:
        return self._bytes.rate(now)

    def block_rate(self, now: float) -> float:
        return self._blocks.rate(now)

    def _add_latency(self, sample: float) -> None:
        weight = self._config.latency_smoothing
        self.latency = sample if self.latency is None else weight * sample + (1.0 - weight) * self.latency
        self.latency_samples += 1

    def _new_bytes_monitor(self, now: float) -> RateMonitor:
        initial = self._config.min_recv_rate * math.e
        return RateMonitor(now, self._config.rate_sample_period, self._config.rate_window, initial)
