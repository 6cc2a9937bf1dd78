"""Where a synced LevelDB write runs: inline (tests, tools) or on a reactor thread (the node's hot path).

LevelDB releases the GIL while it writes and syncs, so a write on a thread leaves the reactor free for
that half millisecond; the result still arrives on the reactor thread, as a Deferred.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import defer, threads

RunBlocking = Callable[[Callable[[], None]], defer.Deferred[None]]
"""Runs a blocking call; the Deferred fires (on the reactor thread) with its outcome."""


def run_inline(call: Callable[[], None]) -> defer.Deferred[None]:
    return defer.maybeDeferred(call)


def run_in_thread(reactor: Any) -> RunBlocking:
    """Blocking calls on `reactor`'s thread pool (one at a time: the callers wait for each write)."""

    def run(call: Callable[[], None]) -> defer.Deferred[None]:
        return threads.deferToThreadPool(reactor, reactor.getThreadPool(), call)

    return run
