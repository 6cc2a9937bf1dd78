"""The node's writer thread: calls run in order off the reactor thread and their outcomes come back on it."""

from __future__ import annotations

import threading
from collections.abc import Generator
from typing import Any

from twisted.internet import defer, reactor
from twisted.trial import unittest

from cometsync.store.blocking import WriterThread


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
    def test_a_failing_call_fails_its_deferred_and_later_calls_still_run(self) -> Generator[Any, Any, None]:
        def fail() -> None:
            raise OSError("disk full")

        ran: list[str] = []
        failed = self.writes(fail)
        later = self.writes(lambda: ran.append("later"))
        with self.assertRaisesRegex(OSError, "disk full"):
            yield failed
        yield later
        self.assertEqual(ran, ["later"])

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
