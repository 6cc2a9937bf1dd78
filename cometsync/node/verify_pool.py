"""The verify-ahead process pool: commit signatures checked in worker processes that die with the node.

Workers start with `spawn`, so they never inherit the reactor's or gRPC's threads and their parent is the
node itself (under `forkserver` it would be the fork server, which the parent-death signal cannot name).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

from cometsync.node.parent_death import die_with_parent


def verify_pool(workers: int) -> ProcessPoolExecutor | None:
    """`workers` processes, started now in the background (a spawned worker takes about a second to
    import cometsync: without this the first verdict waits for it), or None to verify inline when 0."""
    if workers == 0:
        return None
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=init_worker, initargs=(os.getpid(),))
    with _sigint_ignored():  # inherited: a Ctrl-C while a worker still imports prints no traceback
        for _ in range(workers):
            pool.submit(_started)  # submit spawns the missing workers before it returns
    return pool


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _started() -> None:
    """A job that only makes the pool start a worker."""


def init_worker(node_pid: int) -> None:
    """Ctrl-C is the node's to handle (it then shuts the pool down; a worker would print a
    KeyboardInterrupt traceback), and a SIGKILLed node takes its workers with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(node_pid, signal.SIGTERM)
