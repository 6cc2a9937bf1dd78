"""Rejections of peer input: one log line per event, rate-limited per (peer, kind), and counts by kind.

A hostile peer can make us reject thousands of messages or connections a second; each rejection is
counted (the counts feed Prometheus) but only the first of a (peer, kind) pair in every `interval`
is logged, and the next logged line says how many were suppressed meanwhile.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

from cometsync.clock import Clock

log = logging.getLogger(__name__)

LOG_INTERVAL_SECONDS = 10.0
MAX_TRACKED_KEYS = 4096
"""Distinct (peer, kind) pairs remembered for rate limiting; beyond it the table starts over."""


@dataclass
class _Window:
    logged_at: float
    suppressed: int = 0


class RejectionLog:
    """`drop` (message refused, peer kept), `close` (connection refused or closed) and `ban` events."""

    def __init__(self, clock: Clock, interval: float = LOG_INTERVAL_SECONDS) -> None:
        self._clock = clock
        self.interval = interval
        self.drops: Counter[str] = Counter()
        self.closes: Counter[str] = Counter()
        self.bans: Counter[str] = Counter()
        self._windows: dict[tuple[str, str], _Window] = {}

    def drop(self, peer: str, kind: str, detail: str) -> None:
        self.drops[kind] += 1
        self._emit(logging.DEBUG, peer, kind, f"dropped message from {peer}: {detail}")

    def close(self, peer: str, kind: str, detail: str, source: str | None = None) -> None:
        """`source` (e.g. the remote IP) groups lines of many connections for rate limiting."""
        self.closes[kind] += 1
        self._emit(logging.INFO, source or peer, kind, f"closing connection to {peer}: {detail}")

    def ban(self, peer: str, kind: str, seconds: float, detail: str) -> None:
        self.bans[kind] += 1
        self._emit(logging.WARNING, peer, "ban", f"banning {peer} for {seconds:.0f}s: {detail}")

    def _emit(self, level: int, peer: str, kind: str, line: str) -> None:
        now = self._clock.seconds()
        key = (peer, kind)
        window = self._windows.get(key)
        if window is not None and now - window.logged_at < self.interval:
            window.suppressed += 1
            return
        suppressed = window.suppressed if window is not None else 0
        if len(self._windows) >= MAX_TRACKED_KEYS:
            self._windows.clear()
        self._windows[key] = _Window(now)
        if suppressed:
            line += f" ({suppressed} similar suppressed in the last {self.interval:.0f}s)"
        log.log(level, "%s", line)
