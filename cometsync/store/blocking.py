"""Where a synced LevelDB write runs: inline (tests, tools) or on a writer thread (the node's hot path).

LevelDB releases the GIL while it writes and syncs, so a write on a thread leaves the reactor free for
that half millisecond; the result still arrives on the reactor thread, as a Deferred.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.python.failure import Failure

RunBlocking = Callable[[Callable[[], None]], defer.Deferred[None]]
"""Runs a blocking call; the Deferred fires (on the reactor thread) with its outcome."""

_Job = tuple[Callable[[], None], defer.Deferred[None]]
_STOP_WAIT_SECONDS = 30.0
"""How long reactor shutdown waits for a write in flight (a synced LevelDB write takes milliseconds)."""


def run_inline(call: Callable[[], None]) -> defer.Deferred[None]:
    return defer.maybeDeferred(call)


class WriterThread:
    """Blocking calls in order on one thread of their own: a C queue in, `callFromThread` out.

    Twisted's thread pool costs twice the CPU per call (its team, worker and condition layers), and the
    node's writes are strictly one after another anyway. The thread starts at the first call and ends
    after the reactor shuts down, once the call in flight (if any) has finished.
    """

    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._shutdown_trigger: Any = None

    def __call__(self, call: Callable[[], None]) -> defer.Deferred[None]:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="cometsync-writes", daemon=True)
            self._thread.start()
            self._shutdown_trigger = self._reactor.addSystemEventTrigger("after", "shutdown", self.stop)
        done: defer.Deferred[None] = defer.Deferred()
        self._jobs.put((call, done))
        return done

    def stop(self) -> None:
        """End the thread once the calls already queued have run (a later call starts a new one)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._jobs.put(None)
        thread.join(_STOP_WAIT_SECONDS)
        trigger, self._shutdown_trigger = self._shutdown_trigger, None
        with contextlib.suppress(ValueError, KeyError):  # it is the trigger running now: shutdown drops it
            self._reactor.removeSystemEventTrigger(trigger)

    def _work(self) -> None:
        deliver = self._reactor.callFromThread
        while (job := self._jobs.get()) is not None:
            call, done = job
            try:
                call()
            except BaseException:  # every outcome goes back to the caller's Deferred
                deliver(done.errback, Failure())  # type: ignore[no-untyped-call]
            else:
                deliver(done.callback, None)


def run_in_thread(reactor: Any) -> RunBlocking:
    """Blocking calls on a writer thread of `reactor`'s (one at a time: the callers wait for each write)."""
    return WriterThread(reactor)
