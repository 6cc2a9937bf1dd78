"""Start parts in order, stop them in reverse, each stop bounded in time.

Twisted's `MultiService` stops its children all at once; a node must not close LevelDB while a block is
still being applied, so this one waits for each part in turn, and gives up on one that hangs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from twisted.internet import defer

from cometsync.clock import Clock
from cometsync.node.errors import NodeStartError
from cometsync.node.reactor_types import reactor_time

log = logging.getLogger(__name__)
T = TypeVar("T")

Stop = Callable[[], "defer.Deferred[Any] | None"]
"""Undo a part: None when done at once, else a Deferred that fires when it is."""


class Stopping(NodeStartError):
    """A part finished starting after the node was told to stop; it was stopped again."""


@dataclass(frozen=True)
class _Running:
    what: str
    stop: Stop
    bound: float


class Lifecycle:
    """The parts of a node that run, in start order; `stop()` undoes them last-started first."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._running: list[_Running] = []
        self._stopping: defer.Deferred[None] | None = None

    def start(self, what: str, start: Callable[[], T], stop: Stop, bound: float = 0.0) -> T:
        """Run `start()` and, once it returned, record the part as running; returns what `start` did."""
        if self._stopping is not None:
            raise Stopping(f"the node is stopping; {what} was not started")
        started = start()
        self.running(what, stop, bound)
        return started

    def running(self, what: str, stop: Stop, bound: float = 0.0) -> None:
        """`what` runs now (opened or started by the caller); `stop` gets at most `bound` seconds."""
        part = _Running(what, stop, bound)
        if self._stopping is not None:
            self._stopping.addCallback(lambda _: defer.ensureDeferred(self._stop_one(part)))
            raise Stopping(f"the node is stopping; {what} was stopped again")
        self._running.append(part)

    def stop(self) -> defer.Deferred[None]:
        """Idempotent; each caller's Deferred fires once every part is stopped (never fails)."""
        if self._stopping is None:
            self._stopping = defer.ensureDeferred(self._stop_all())
        waiter: defer.Deferred[None] = defer.Deferred()

        def relay(_: None) -> None:
            waiter.callback(None)

        self._stopping.addCallback(relay)
        return waiter

    async def _stop_all(self) -> None:
        while self._running:
            await self._stop_one(self._running.pop())

    async def _stop_one(self, part: _Running) -> None:
        """A failure or a timeout is logged, never raised: a signal always ends the node."""
        try:
            step = part.stop()
            if step is not None:
                await step.addTimeout(part.bound, reactor_time(self._clock))
        except defer.TimeoutError:
            log.warning("shutdown: gave up waiting for %s after %.0fs", part.what, part.bound)
        except Exception as exc:
            log.warning("shutdown: stopping %s failed: %s", part.what, exc)
