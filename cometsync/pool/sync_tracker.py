"""Decides "caught up" from data no peer can forge: the local clock and header times of verified blocks.

Same rule as CometBFT main's SyncTracker: if blocks arrive no faster than the chain produced them we are at
the tip, whatever heights peers claim (defeats peers that inflate heights or throttle delivery).
"""

from __future__ import annotations

from collections import deque

PRODUCTION_SAMPLES = 10
MIN_PRODUCTION_SAMPLES = 3
FAR_BEHIND_FACTOR = 100
NEAR_TIP_FACTOR = 0.6


class SyncTracker:
    """Moving average of header-time gaps (production interval) vs local time since the last block."""

    def __init__(self, no_block_timeout: float) -> None:
        self.no_block_timeout = no_block_timeout
        self._intervals: deque[float] = deque(maxlen=PRODUCTION_SAMPLES)
        self._last_header_time: float | None = None
        self._last_wall_time: float | None = None

    @property
    def has_blocks(self) -> bool:
        return self._last_wall_time is not None

    def record_block(self, header_time: float, wall_time: float) -> None:
        """Note a verified block with header time `header_time` (Unix s) popped at local time `wall_time`."""
        if self._last_header_time is not None and header_time > self._last_header_time:
            self._intervals.append(header_time - self._last_header_time)
        self._last_header_time = header_time
        self._last_wall_time = wall_time

    def production_interval(self) -> float | None:
        if not self._intervals:
            return None
        return sum(self._intervals) / len(self._intervals)

    def no_block_threshold(self, now: float) -> float:
        """How long without a block means "caught up", given how old the last verified block is."""
        production = self.production_interval()
        enough = len(self._intervals) >= MIN_PRODUCTION_SAMPLES
        if production is None or not enough or self._last_header_time is None:
            return self.no_block_timeout
        block_age = now - self._last_header_time
        far_behind_age = production * FAR_BEHIND_FACTOR
        if block_age > far_behind_age:
            return max(self.no_block_timeout, block_age / FAR_BEHIND_FACTOR)
        ratio = min(1.0, max(0.0, block_age / far_behind_age))
        near_tip = production * NEAR_TIP_FACTOR
        return near_tip + ratio * (self.no_block_timeout - near_tip)

    def is_caught_up(self, now: float) -> bool:
        if self._last_wall_time is None:
            return False
        return now - self._last_wall_time >= self.no_block_threshold(now)
