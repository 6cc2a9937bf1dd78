"""Blocks-per-second and ETA from (time, height) samples: what an operator watching a sync wants to know."""

from __future__ import annotations

from collections import deque

DEFAULT_WINDOW_SECONDS = 30.0
MAX_SAMPLES = 600
MIN_SPAN_SECONDS = 1.0


class SyncProgress:
    """Sans-IO: feed `observe(now, height)`; the rate is measured over the last `window_seconds`."""

    def __init__(self, window_seconds: float = DEFAULT_WINDOW_SECONDS) -> None:
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        self.window_seconds = window_seconds
        self._samples: deque[tuple[float, int]] = deque(maxlen=MAX_SAMPLES)

    def observe(self, now: float, height: int) -> None:
        if self._samples and now <= self._samples[-1][0]:
            self._samples[-1] = (self._samples[-1][0], height)
        else:
            self._samples.append((now, height))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window_seconds:
            self._samples.popleft()

    def blocks_per_second(self) -> float:
        """0.0 until samples span at least a second (closer samples give noise, not a rate)."""
        if len(self._samples) < 2:
            return 0.0
        (first_time, first_height), (last_time, last_height) = self._samples[0], self._samples[-1]
        if last_time - first_time < MIN_SPAN_SECONDS:
            return 0.0
        return max(0, last_height - first_height) / (last_time - first_time)

    def eta_seconds(self, height: int, target_height: int) -> float | None:
        """Seconds until `height` reaches `target_height` at the current rate; None when not moving."""
        remaining = target_height - height
        if remaining <= 0:
            return 0.0
        rate = self.blocks_per_second()
        return remaining / rate if rate > 0 else None
