"""The node's writer thread: calls run in order off the reactor thread and their outcomes come back on it;
after a failure no later call runs (a state must never be written after its block's write failed)."""

from __future__ import annotations

import threading
from collections.abc import Generator
from typing import Any

from twisted.internet import defer, reactor
from twisted.trial import unittest

from cometsync.store.blocking import EarlierWriteFailed, InlineWrites, WriterThread


class WriterThreadTest(unittest.TestCase):
    def setUp(self) -> None:
        self.writes = WriterThread(reactor)
        self.addCleanup(self.writes.stop)

    @defer.inlineCallbacks
    def test_calls_run_in_order_on_another_thread_and_fire_on_the_reactor_thread(
        self,
    ) -> Generator[Any, Any, None]:
        ran: list[tuple[int, str]] = []
        fired: list[str] = []

        def call(index: int) -> None:
            ran.append((index, threading.current_thread().name))

        done = [self.writes(lambda i=i: call(i)) for i in range(50)]
        for deferred in done:
            deferred.addCallback(lambda _: fired.append(threading.current_thread().name))
        yield defer.gatherResults(done)
        self.assertEqual([index for index, _ in ran], list(range(50)))
        self.assertEqual({name for _, name in ran}, {"cometsync-writes"})
        self.assertEqual(set(fired), {threading.main_thread().name})

    @defer.inlineCallbacks
    def test_after_a_failing_call_no_later_call_runs(self) -> Generator[Any, Any, None]:
        release = threading.Event()

        def fail() -> None:
            release.wait(10)
            raise OSError("disk full")

        ran: list[str] = []
        failed = self.writes(fail)
        queued = self.writes(lambda: ran.append("queued behind it"))  # queued before the failure is known
        release.set()
        with self.assertRaisesRegex(OSError, "disk full"):
            yield failed
        with self.assertRaisesRegex(EarlierWriteFailed, "earlier write failed: disk full"):
            yield queued
        with self.assertRaises(EarlierWriteFailed):
            yield self.writes(lambda: ran.append("submitted after"))
        self.assertEqual(ran, [])

    def test_stop_waits_for_the_call_in_flight(self) -> None:
        started, release = threading.Event(), threading.Event()
        finished: list[bool] = []

        def slow() -> None:
            started.set()
            release.wait(10)
            finished.append(True)

        self.writes(slow)
        self.assertTrue(started.wait(10))
        threading.Timer(0.05, release.set).start()
        self.writes.stop()
        self.assertEqual(finished, [True])


def test_inline_writes_run_at_once_and_stop_after_a_failure() -> None:
    writes = InlineWrites()
    ran: list[int] = []
    assert writes(lambda: ran.append(1)).called and ran == [1]

    def fail() -> None:
        raise OSError("disk full")

    failures: list[Any] = []
    writes(fail).addErrback(failures.append)
    writes(lambda: ran.append(2)).addErrback(failures.append)
    assert ran == [1]
    assert [type(f.value) for f in failures] == [OSError, EarlierWriteFailed]
