"""Verification of many ed25519 signatures at once (a commit's worth or more).

No Python package exposes ZIP-215 *batch* verification, and the zebra binding holds the GIL, so
throughput comes from worker processes: `ParallelVerifier` cuts large batches into chunks for a process
pool and verifies small ones inline, where a pool round trip would cost more than the work.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from types import TracebackType

from cometsync.crypto.ed25519 import verify

SignedItem = tuple[bytes, bytes, bytes]
"""(public key, message, signature)."""

DEFAULT_CHUNK_SIZE = 128
DEFAULT_INLINE_BELOW = 256


def verify_all(items: Sequence[SignedItem]) -> list[bool]:
    """Verify every item in this process; the result is aligned with `items`."""
    return [verify(pub, msg, sig) for pub, msg, sig in items]


class ParallelVerifier:
    """Verifies batches in a lazily started process pool; batches below `inline_below` stay in-process.

    `submit` returns a `concurrent.futures.Future` (wrap it with `Deferred.fromFuture` in Twisted code);
    results are always aligned with the submitted items. The pool's processes are started with
    `forkserver` where available, so forking never copies a running reactor's or gRPC's threads.
    """

    def __init__(
        self,
        workers: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        inline_below: int = DEFAULT_INLINE_BELOW,
    ) -> None:
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        if inline_below < 0:
            raise ValueError(f"inline_below must be >= 0, got {inline_below}")
        self.chunk_size = chunk_size
        self.inline_below = inline_below
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False
        self._lock = threading.Lock()

    @property
    def pool_started(self) -> bool:
        """Whether worker processes exist (they start with the first batch large enough to need them)."""
        return self._pool is not None

    def verify_all(self, items: Sequence[SignedItem]) -> list[bool]:
        """Verify `items` and wait for the result."""
        return self.submit(items).result()

    def submit(self, items: Sequence[SignedItem]) -> Future[list[bool]]:
        """Start verifying `items`; small batches are verified before this returns."""
        pool = self._pool_for(len(items))
        if pool is None:
            done: Future[list[bool]] = Future()
            try:
                done.set_result(verify_all(items))
            except Exception as exc:
                done.set_exception(exc)
            return done
        chunks = [list(items[i : i + self.chunk_size]) for i in range(0, len(items), self.chunk_size)]
        return _gather([pool.submit(verify_all, chunk) for chunk in chunks])

    def close(self) -> None:
        """Stop the worker processes (waiting for queued work); later submissions raise RuntimeError."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def __enter__(self) -> ParallelVerifier:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _pool_for(self, batch_size: int) -> ProcessPoolExecutor | None:
        """The pool to use for a batch of this size, or None to verify inline."""
        with self._lock:
            if self._closed:
                raise RuntimeError("ParallelVerifier is closed")
            if batch_size < self.inline_below:
                return None
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.workers, mp_context=_process_context())
            return self._pool


def _process_context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _gather(parts: list[Future[list[bool]]]) -> Future[list[bool]]:
    """One future for the concatenated results of `parts` (in order); the first failure fails it."""
    combined: Future[list[bool]] = Future()
    lock = threading.Lock()
    remaining = [len(parts)]

    def on_part_done(part: Future[list[bool]]) -> None:
        if part.cancelled():
            combined.cancel()
            return
        error = part.exception()
        with lock:
            if combined.done():
                return
            if error is not None:
                combined.set_exception(error)
                return
            remaining[0] -= 1
            if remaining[0] == 0:
                combined.set_result([ok for p in parts for ok in p.result()])

    if not parts:
        combined.set_result([])
    for part in parts:
        part.add_done_callback(on_part_done)
    return combined
