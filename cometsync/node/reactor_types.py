"""The members of Twisted's reactor a node uses (IReactorTime, IReactorThreads, IReactorTCP, IReactorUNIX,
IReactorProcess), as one typing Protocol: zope interfaces do not type-check as call targets under mypy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, cast

from twisted.internet import defer
from twisted.internet.interfaces import IAddress, IConnector, IReactorTime
from twisted.internet.protocol import ClientFactory, ProcessProtocol, ServerFactory

from cometsync.clock import Clock


class ListeningPort(Protocol):
    """`IListeningPort`: where it listens, and how to stop."""

    def getHost(self) -> IAddress: ...

    def stopListening(self) -> defer.Deferred[None] | None: ...


class ProcessTransport(Protocol):
    """`IProcessTransport`, as far as stopping a child goes."""

    def signalProcess(self, signalID: str | int) -> None: ...


class NodeReactor(Clock, Protocol):
    """Time and timers, re-entry from other threads, TCP/UNIX listeners and clients, child processes."""

    def callFromThread(self, callable: Callable[..., Any], *args: Any, **kw: Any) -> None: ...

    def listenTCP(
        self, port: int, factory: ServerFactory, backlog: int = 50, interface: str = ""
    ) -> ListeningPort: ...

    def listenUNIX(self, address: str, factory: ServerFactory, backlog: int = 50) -> ListeningPort: ...

    def connectTCP(
        self,
        host: str,
        port: int,
        factory: ClientFactory,
        timeout: float = 30,
        bindAddress: tuple[str, int] | None = None,
    ) -> IConnector: ...

    def spawnProcess(
        self,
        processProtocol: ProcessProtocol,
        executable: str,
        args: Sequence[str],
        env: Mapping[str, str] | None = None,
    ) -> ProcessTransport: ...


class MainReactor(NodeReactor, Protocol):
    """The global reactor as `start` drives it: run until stopped, with start and shutdown hooks."""

    def run(self) -> None: ...

    def stop(self) -> None: ...

    def callWhenRunning(self, callable: Callable[..., Any], *args: Any, **kw: Any) -> object: ...

    def addSystemEventTrigger(
        self, phase: str, eventType: str, callable: Callable[..., Any], *args: Any, **kw: Any
    ) -> object: ...


def global_reactor() -> NodeReactor:
    """Twisted's installed reactor, typed (the module attribute is untyped until installed)."""
    from twisted.internet import reactor

    return cast(NodeReactor, reactor)


def reactor_time(clock: Clock) -> IReactorTime:
    """`clock` where Twisted asks for its zope interface (`Deferred.addTimeout`, `LoopingCall.clock`)."""
    return cast(IReactorTime, clock)
