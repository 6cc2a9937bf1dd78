"""Time for every package: the slice of Twisted's `IReactorTime` cometsync uses, and one periodic call.

Both `twisted.internet.task.Clock` (tests) and the real reactor satisfy `Clock`; zope interfaces do not
type-check as call targets under mypy, hence a structural type. This module imports nothing of cometsync.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast


class DelayedCall(Protocol):
    def cancel(self) -> None: ...

    def active(self) -> bool: ...


class Clock(Protocol):
    def seconds(self) -> float: ...

    def callLater(self, delay: float, callable: Callable[..., Any], *args: Any, **kw: Any) -> DelayedCall: ...


ReactorT = TypeVar("ReactorT")


def reactor_or_global(reactor: ReactorT | None) -> ReactorT:
    """`reactor`, or Twisted's global reactor if none was passed (imported late: the entry point picks it)."""
    if reactor is not None:
        return reactor
    from twisted.internet import reactor as global_reactor

    return cast(ReactorT, global_reactor)


def cancel_call(call: DelayedCall | None) -> None:
    """Cancel a pending call; a call that already ran or was cancelled is left alone."""
    if call is not None and call.active():
        call.cancel()


class Periodic:
    """Calls `action` every `interval` seconds from `start()` to `stop()` (first call after one interval).

    Chosen over `LoopingCall`: typed against `Clock`, no Deferred to keep alive, no global reactor default.
    """

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
