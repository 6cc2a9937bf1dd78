"""How long and how often the ABCI client keeps retrying an unreachable app (pure; no clock inside)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for UNAVAILABLE, bounded both in attempts and in total seconds."""

    initial_delay: float = 0.05
    max_delay: float = 1.0
    multiplier: float = 2.0
    max_attempts: int = 200
    budget_seconds: float = 30.0

    def delay_after(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed attempt (1-based) before the next one."""
        return min(self.max_delay, self.initial_delay * self.multiplier ** (attempts - 1))

    def next_delay(self, attempts: int, elapsed: float) -> float | None:
        """The wait before another attempt, or None when the attempt or time budget would be exceeded."""
        if attempts >= self.max_attempts:
            return None
        delay = self.delay_after(attempts)
        if elapsed + delay > self.budget_seconds:
            return None
        return delay
