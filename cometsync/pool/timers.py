"""The pool's timers in one heap: `tick()` pops what is due, `next_deadline()` reads the top.

Timers are never cancelled: each carries the stamp it was armed with, and the pool checks on firing that
the stamp still matches (a peer still waiting since then, a retry deadline still set), else ignores it.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass


@dataclass(frozen=True)
class RateCheck:
    """Re-sort peers by rate and drop the slow ones (every `rate_sample_period`)."""


@dataclass(frozen=True)
class ConnWaitOver:
    """`peer_conn_wait` after start: requests may begin."""


@dataclass(frozen=True)
class PeerTimeout:
    """`peer_id` owes blocks and has sent none since `since`."""

    peer_id: str
    since: float


@dataclass(frozen=True)
class RetryDue:
    """The requester at `height` armed its retry timer for `deadline`."""

    height: int
    deadline: float


@dataclass(frozen=True)
class BanExpiry:
    peer_id: str
    until: float


@dataclass(frozen=True)
class LateExpiry:
    """The copy `peer_id` still owes for popped `height` (asked at `requested_at`) is no longer awaited."""

    peer_id: str
    height: int
    requested_at: float


Timer = RateCheck | ConnWaitOver | PeerTimeout | RetryDue | BanExpiry | LateExpiry


class TimerHeap:
    """Min-heap of (deadline, timer); ties fire in arming order."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()

    def arm(self, at: float, timer: Timer) -> None:
        heapq.heappush(self._heap, (at, next(self._order), timer))

    def pop_due(self, now: float) -> list[Timer]:
        due: list[Timer] = []
        while self._heap and self._heap[0][0] <= now:
            due.append(heapq.heappop(self._heap)[2])
        return due

    def next_at(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def clear(self) -> None:
        self._heap.clear()
