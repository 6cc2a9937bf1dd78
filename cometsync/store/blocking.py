"""Where the block writes run: in submission order, inline (tests, tools) or on a writer thread.

LevelDB releases the GIL while it writes and syncs, so the writer thread leaves the reactor free while a
block syncs. Order matters (a block before the prune queued after it), and a failed write fails every
write submitted after it without running it (fail-stop): none may land on top of a failed one.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol

from twisted.internet import defer
from twisted.python.failure import Failure

from cometsync.store.errors import StoreError

_Job = tuple[Callable[[], None], defer.Deferred[None]]
_STOP_WAIT_SECONDS = 30.0
"""How long reactor shutdown waits for a write in flight (a synced LevelDB write takes milliseconds)."""


class EarlierWriteFailed(StoreError):
    """Not written: a write submitted before it failed, and this one may depend on it."""


class RunBlocking(Protocol):
    """Runs blocking writes in submission order, fail-stop; each Deferred fires (on the reactor thread)
    with its write's outcome."""

    def __call__(self, call: Callable[[], None]) -> defer.Deferred[None]: ...


class _FailStop:
    """The first failure, then `EarlierWriteFailed` for every later call (only one thread calls `run`)."""

    def __init__(self) -> None:
        self._failure: BaseException | None = None

    def run(self, call: Callable[[], None]) -> None:
        if self._failure is not None:
            raise EarlierWriteFailed(f"not written after an earlier write failed: {self._failure}")
        try:
            call()
        except BaseException as exc:
            self._failure = exc
            raise


class InlineWrites(_FailStop):
    """Each write at once, on the caller's thread: tests and tools (the executor's default)."""

    def __call__(self, call: Callable[[], None]) -> defer.Deferred[None]:
        return defer.maybeDeferred(self.run, call)


class WriterThread(_FailStop):
    """Writes in order on one thread of their own: a C queue in, `callFromThread` out.

    Twisted's thread pool costs twice the CPU per call (its team, worker and condition layers), and the
    node's writes are strictly one after another anyway. The thread starts at the first call and ends
    after the reactor shuts down, once the call in flight (if any) has finished.
    """

    def __init__(self, reactor: Any) -> None:
        super().__init__()
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
                self.run(call)
            except BaseException:  # every outcome goes back to the caller's Deferred
                deliver(done.errback, Failure())  # type: ignore[no-untyped-call]
            else:
                deliver(done.callback, None)


def run_in_thread(reactor: Any) -> RunBlocking:
    """Synced writes on a writer thread of `reactor`'s, in submission order."""
    return WriterThread(reactor)
