"""The client side of CometBFT's ABCI socket protocol on Twisted, over TCP or a unix socket.

Calls are pipelined: each request is written at once, followed by a `Flush` as CometBFT's client does
after every synchronous call, and answers are paired in order by `ClientCodec`. As in CometBFT, the
connection is never re-opened: an exception reply, garbage, or a lost connection fails every unanswered
call with a typed error and ends the client; a call that may have reached the app is never re-sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer, endpoints, protocol
from twisted.python.failure import Failure

from cometsync.abci.address import SocketAddress
from cometsync.abci.codec import MAX_FRAME_BYTES, ClientCodec
from cometsync.abci.errors import (
    ABCIAppException,
    ABCIConnectionLost,
    ABCIError,
    ABCITimeout,
    ABCIUnavailable,
)
from cometsync.abci.methods import CONSENSUS, METHODS, Method, TypedCalls
from cometsync.abci.retry import RetryPolicy
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2

CONNECT_TIMEOUT_SECONDS = 5.0
FLUSH_FRAME_METHOD = METHODS["flush"]
NOT_RESENT = "it may have reached the app, so it is not re-sent; restart the node (its handshake replays)"


@dataclass(eq=False)
class _Pending:
    """One call awaiting its answer, and the timer of its deadline if it has one."""

    method: Method
    result: defer.Deferred[Any]
    timer: Any = None

    def settle(self, outcome: Callable[[Any], object], value: Any) -> None:
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        if not self.result.called:
            outcome(value)


class _Wire(protocol.Protocol):
    """Hands bytes and the end of the connection to its client."""

    def __init__(self, client: SocketABCIClient) -> None:
        self._client = client

    def connectionMade(self) -> None:
        set_no_delay = getattr(self.transport, "setTcpNoDelay", None)
        if set_no_delay is not None:
            set_no_delay(True)  # one small request, one small answer: Nagle would add 40 ms to each

    def send(self, data: bytes) -> None:
        """Write now: Twisted would send the buffer only at its next poll, after any timed calls (such
        as the sync loop's next step) that are due first, so the app would wait on our CPU work."""
        transport: Any = self.transport
        transport.write(data)
        push = getattr(transport, "doWrite", None)
        if push is not None and transport.connected:
            push()  # a would-block or a lost connection is left to the reactor's next poll, as before

    def hang_up(self) -> None:
        transport: Any = self.transport
        if transport is not None:
            transport.loseConnection()

    def dataReceived(self, data: bytes) -> None:
        self._client.data_received(data)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self._client.connection_lost(reason)


class SocketABCIClient(TypedCalls):
    """`ABCIClient` over one socket-protocol connection; `address` as CometBFT's proxy_app
    (`tcp://127.0.0.1:26658`, `127.0.0.1:26658`, `unix:///path`). Use `connect()` before calling.

    `call_timeout` bounds each call on the query, mempool and snapshot connections and
    `consensus_timeout` those on the consensus connection (None: wait as long as it takes, as CometBFT).
    """

    answers_in_order = True  # CometBFT's socket server handles a connection's requests one by one

    def __init__(
        self,
        address: str,
        *,
        call_timeout: float | None = None,
        consensus_timeout: float | None = None,
        app_hash_size: int | None = None,
        max_frame_bytes: int = MAX_FRAME_BYTES,
        reactor: Any = None,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        self.reactor = reactor
        self.address = address
        self.endpoint_address = SocketAddress.parse(address)
        self.app_hash_size = app_hash_size
        self.closed = False
        self.error: ABCIError | None = None
        self._call_timeout = call_timeout
        self._consensus_timeout = consensus_timeout
        self._codec: ClientCodec[_Pending | None] = ClientCodec(max_frame_bytes)
        self._wire: _Wire | None = None

    # ------------------------------------------------------------------ connecting

    def connect(self, retry: RetryPolicy | None = None) -> defer.Deferred[SocketABCIClient]:
        """Open the connection, retrying a refused one within `retry` (CometBFT retries until the app is
        up); fails with `ABCIUnavailable` naming the address once the budget is spent."""
        policy = retry if retry is not None else RetryPolicy()
        return defer.ensureDeferred(self._connect(policy))

    async def _connect(self, policy: RetryPolicy) -> SocketABCIClient:
        started = self.reactor.seconds()
        attempts = 0
        while True:
            attempts += 1
            wire = _Wire(self)
            try:
                await endpoints.connectProtocol(self._endpoint(), wire)  # type: ignore[no-untyped-call]
            except Exception as exc:
                elapsed = self.reactor.seconds() - started
                delay = None if self.closed else policy.next_delay(attempts, elapsed)
                if delay is None:
                    raise ABCIUnavailable(
                        f"cannot connect to the ABCI app at {self.address} after {attempts} attempts over "
                        f"{elapsed:.1f}s ({exc}); check that it is running and serving the socket protocol "
                        "there (proxy_app, abci)"
                    ) from None
                await _sleep(self.reactor, delay)
                continue
            self._wire = wire
            return self

    def _endpoint(self) -> Any:
        where = self.endpoint_address
        if where.path:
            return endpoints.UNIXClientEndpoint(  # type: ignore[no-untyped-call]
                self.reactor, where.path, timeout=CONNECT_TIMEOUT_SECONDS
            )
        return endpoints.HostnameEndpoint(
            self.reactor, where.host, where.port, timeout=CONNECT_TIMEOUT_SECONDS
        )

    # ------------------------------------------------------------------ calls

    def _call(self, method: Method, request: Any) -> defer.Deferred[Any]:
        where = f"ABCI {method.rpc} to {self.address}"
        if self.error is not None:
            return defer.fail(ABCIConnectionLost(f"{where}: the connection already failed: {self.error}"))
        if self.closed or self._wire is None or self._wire.transport is None:
            return defer.fail(
                ABCIError(f"{where}: the client is {'closed' if self.closed else 'not connected'}")
            )
        pending = _Pending(method, defer.Deferred())
        data = self._codec.send(method.name, request, pending)
        if method is not FLUSH_FRAME_METHOD:
            data += self._codec.send(FLUSH_FRAME_METHOD.name, abci_pb2.RequestFlush(), None)
        deadline = self._consensus_timeout if method.connection == CONSENSUS else self._call_timeout
        if deadline is not None:
            pending.timer = self.reactor.callLater(deadline, self._expire, pending, deadline)
        self._wire.send(data)
        return pending.result

    def _expire(self, pending: _Pending, deadline: float) -> None:
        """The call fails; its answer, if it ever comes, is paired and dropped (the order stays intact)."""
        if not pending.result.called:
            pending.result.errback(
                ABCITimeout(f"ABCI {pending.method.rpc} to {self.address}: no answer within {deadline:g}s")
            )

    def data_received(self, data: bytes) -> None:
        received = self._codec.receive(data)
        for pending, response in received.answers:
            if pending is not None:
                pending.settle(pending.result.callback, response)
        if received.error is not None:
            self._fail(received.error)
            if self._wire is not None:
                self._wire.hang_up()

    def connection_lost(self, reason: Failure) -> None:
        if self.closed or self.error is not None:
            return
        detail = "in the middle of a message" if self._codec.truncated else reason.getErrorMessage()
        self._fail(ABCIConnectionLost(f"the connection to the ABCI app at {self.address} closed ({detail})"))

    def _fail(self, cause: ABCIError) -> None:
        """End the client: the oldest unanswered call gets `cause`, the others hear the connection ended."""
        self.error = cause
        for index, (_, pending) in enumerate(self._codec.drain()):
            if pending is not None:
                pending.settle(
                    pending.result.errback, self._call_error(pending.method, cause, first=index == 0)
                )

    def _call_error(self, method: Method, cause: ABCIError, *, first: bool) -> ABCIError:
        where = f"ABCI {method.rpc} to {self.address}"
        if isinstance(cause, ABCIAppException) and first:
            return ABCIAppException(f"{where} failed: {cause}", cause.app_message)
        if isinstance(cause, ABCIConnectionLost) or not first:
            advice = NOT_RESENT if method.connection == CONSENSUS else "the socket client does not reconnect"
            return ABCIConnectionLost(f"{where}: unanswered: {cause}; {advice}")
        return type(cause)(f"{where}: {cause}")

    def close(self) -> None:
        """Fail every unanswered call with `ABCIError` and close the connection."""
        if self.closed:
            return
        self.closed = True
        for _, pending in self._codec.drain():
            if pending is not None:
                pending.settle(pending.result.errback, ABCIError(f"ABCI client for {self.address} closed"))
        if self._wire is not None:
            self._wire.hang_up()


def _sleep(reactor: Any, seconds: float) -> defer.Deferred[None]:
    waiting: defer.Deferred[None] = defer.Deferred()
    reactor.callLater(seconds, waiting.callback, None)
    return waiting
