"""The verify-ahead process pool: commit signatures checked in worker processes that die with the node.

Workers start with `spawn`, so they never inherit the reactor's or gRPC's threads and their parent is the
node itself (under `forkserver` it would be the fork server, which the parent-death signal cannot name).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor

from cometsync.node.parent_death import die_with_parent


def verify_pool(workers: int) -> ProcessPoolExecutor | None:
    """`workers` processes, started now in the background (a spawned worker takes about a second to
    import cometsync: without this the first verdict waits for it), or None to verify inline when 0."""
    if workers == 0:
        return None
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=init_worker, initargs=(os.getpid(),))
    for _ in range(workers):
        pool.submit(_started)
    return pool


def _started() -> None:
    """A job that only makes the pool start a worker."""


def init_worker(node_pid: int) -> None:
    """Ctrl-C is the node's to handle (it then shuts the pool down; a worker would print a
    KeyboardInterrupt traceback), and a SIGKILLed node takes its workers with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(node_pid, signal.SIGTERM)
