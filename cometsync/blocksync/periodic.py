"""A repeating call on an injected clock (LoopingCall's job, typed against the p2p Clock protocol)."""

from __future__ import annotations

from collections.abc import Callable

from cometsync.p2p.clock import Clock, DelayedCall, cancel_call


class Periodic:
    """Calls `action` every `interval` seconds from `start()` (first call after one interval) to `stop()`."""

    def __init__(self, clock: Clock, interval: float, action: Callable[[], None]) -> None:
        self._clock = clock
        self._interval = interval
        self._action = action
        self._call: DelayedCall | None = None

    @property
    def running(self) -> bool:
        return self._call is not None

    def start(self) -> None:
        if self._call is None:
            self._call = self._clock.callLater(self._interval, self._fire)

    def stop(self) -> None:
        cancel_call(self._call)
        self._call = None

    def _fire(self) -> None:
        self._call = self._clock.callLater(self._interval, self._fire)
        self._action()
