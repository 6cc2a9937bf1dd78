"""The slice of Twisted's `IReactorTime` the p2p logic uses, as a typing Protocol.

Both `twisted.internet.task.Clock` (tests) and the real reactor satisfy it; zope interfaces do not
type-check as call targets under mypy, hence this structural type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class DelayedCall(Protocol):
    def cancel(self) -> None: ...

    def active(self) -> bool: ...


class Clock(Protocol):
    def seconds(self) -> float: ...

    def callLater(self, delay: float, callable: Callable[..., Any], *args: Any, **kw: Any) -> DelayedCall: ...


def cancel_call(call: DelayedCall | None) -> None:
    """Cancel a pending call; a call that already ran or was cancelled is left alone."""
    if call is not None and call.active():
        call.cancel()
