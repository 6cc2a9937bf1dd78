"""A token bucket on an injected clock: the MConnection's send and receive rate limits."""

from __future__ import annotations

from cometsync.clock import Clock


class TokenBucket:
    """Allows `rate` bytes per second on average, with bursts of up to `burst` bytes."""

    def __init__(self, clock: Clock, rate: int, burst: int) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self._clock = clock
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._updated = clock.seconds()

    def _refill(self) -> None:
        now = self._clock.seconds()
        self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def consume(self, amount: int) -> None:
        """Spend `amount` bytes; the balance may go negative, which delays what comes next."""
        self._refill()
        self._tokens -= amount

    def delay(self) -> float:
        """Seconds until the balance is positive again (0 when bytes may flow now)."""
        self._refill()
        return 0.0 if self._tokens > 0 else -self._tokens / self.rate + 1e-6
