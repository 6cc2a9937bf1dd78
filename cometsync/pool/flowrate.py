"""Per-peer delivery rates: exponential moving averages over fixed sample periods (as CometBFT's flowrate).

Driven by explicit timestamps so the pool stays clock-injected and deterministic.
"""

from __future__ import annotations

import math


class RateMonitor:
    """EMA of an amount per second: each closed sample weighs 1 - exp(-sample_length / window)."""

    def __init__(self, now: float, sample_period: float, window: float, initial_rate: float = 0.0) -> None:
        self._sample_period = sample_period
        self._window = window
        self._sample_start = now
        self._pending_amount = 0.0
        self._rate = initial_rate

    def record(self, now: float, amount: float) -> None:
        self._close_sample(now)
        self._pending_amount += amount

    def rate(self, now: float) -> float:
        self._close_sample(now)
        return self._rate

    def _close_sample(self, now: float) -> None:
        elapsed = now - self._sample_start
        if elapsed < self._sample_period:
            return
        weight = 1.0 - math.exp(-elapsed / self._window)
        self._rate = weight * (self._pending_amount / elapsed) + (1.0 - weight) * self._rate
        self._pending_amount = 0.0
        self._sample_start = now
