"""CometBFT's `[rpc]` request limits, its listener's open-connection limit, and the RPC's share of the
reactor thread while the node syncs (sans-IO)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cometsync.clock import Clock


@dataclass(frozen=True)
class RPCLimits:
    """`[rpc] max_body_bytes`, `max_request_batch_size`, `max_open_connections` with CometBFT's defaults.

    A zero batch size or connection count means unlimited; a zero body size refuses every body (as Go's
    `http.MaxBytesReader(w, body, 0)` does)."""

    max_body_bytes: int = 1_000_000
    max_request_batch_size: int = 10
    max_open_connections: int = 900


class Listener(Protocol):
    """A listening port: stop or resume accepting connections."""

    def stopReading(self) -> None: ...

    def startReading(self) -> None: ...


class Gated(Protocol):
    """A connection the gate holds (not read) until it may be served."""

    def hold(self) -> None: ...

    def serve(self) -> None: ...

    def drop(self) -> None: ...


class ConnectionGate:
    """At most `limit` connections served at once, like Go's `netutil.LimitListener`: at the limit the
    listener stops accepting, so later clients wait in the kernel's backlog; one accepted in the same burst
    waits unread until a served connection closes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._served: set[Gated] = set()
        self._waiting: deque[Gated] = deque()
        self._listener: Listener | None = None

    @property
    def served(self) -> int:
        return len(self._served)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def attach(self, listener: Listener | None) -> None:
        """The port to pause at the limit; None once it stopped listening."""
        self._listener = listener
        self._update_listener()

    def drop_waiting(self) -> None:
        """Close the connections never served (the listener is going away)."""
        while self._waiting:
            self._waiting.popleft().drop()

    def arrived(self, connection: Gated) -> None:
        if self._has_room():
            self._serve(connection)
        else:
            connection.hold()
            self._waiting.append(connection)
        self._update_listener()

    def left(self, connection: Gated) -> None:
        if connection in self._served:
            self._served.discard(connection)
            while self._waiting and self._has_room():
                self._serve(self._waiting.popleft())
        elif connection in self._waiting:
            self._waiting.remove(connection)
        self._update_listener()

    def _has_room(self) -> bool:
        return self.limit == 0 or len(self._served) < self.limit

    def _serve(self, connection: Gated) -> None:
        self._served.add(connection)
        connection.serve()

    def _update_listener(self) -> None:
        if self._listener is None:
            return
        if self._has_room():
            self._listener.startReading()
        else:
            self._listener.stopReading()


class ServingBudget:
    """While `active()` (the node is catching up), RPC work may take `share` of the wall clock, with bursts
    up to `burst_seconds`: a token bucket charged with the seconds spent serving. Over budget, the server
    stops reading the client that overspent until the bucket refills, so a client hammering the RPC slows
    itself down, not the sync. Not active: no limit."""

    def __init__(self, active: Callable[[], bool], clock: Clock, share: float, burst_seconds: float) -> None:
        if share <= 0 or burst_seconds < 0:
            raise ValueError("share must be positive and burst_seconds not negative")
        self._active = active
        self.clock = clock
        self._now = clock.seconds
        self.share = share
        self.burst_seconds = burst_seconds
        self._tokens = burst_seconds
        self._updated = clock.seconds()

    def _refill(self) -> None:
        now = self._now()
        self._tokens = min(self.burst_seconds, self._tokens + (now - self._updated) * self.share)
        self._updated = now

    def charge(self, seconds: float) -> None:
        if not self._active():
            return
        self._refill()
        self._tokens -= seconds

    def wait_seconds(self) -> float:
        """How long to pause the client that overspent (0: go on)."""
        if not self._active():
            return 0.0
        self._refill()
        return 0.0 if self._tokens >= 0 else -self._tokens / self.share
