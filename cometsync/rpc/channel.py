"""The RPC's HTTP connections: the open-connection gate and the request body limit, as CometBFT's server.

A plain keep-alive `GET` of a route with a prebuilt answer (`/status`, `/health`) arriving on an idle
connection is answered by the channel itself, without a twisted.web Request (see `plain_get`); every
other request takes twisted.web's path. Both are charged to the serving budget and reset the idle timeout.

A body over `max_body_bytes` is answered as soon as it is known to be over (from Content-Length, or once
the chunks received pass the limit) with HTTP 400 and CometBFT's invalid-request error, then the
connection closes without reading the rest, as Go's `http.MaxBytesReader` makes its server do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure
from twisted.web import http, resource, server

from cometsync.clock import DelayedCall, cancel_call
from cometsync.rpc.envelope import Answer, envelope
from cometsync.rpc.errors import INVALID_REQUEST, RPCError
from cometsync.rpc.limits import ConnectionGate, RPCLimits, ServingBudget
from cometsync.rpc.plain_get import plain_get_method

BODY_TOO_LARGE = RPCError(INVALID_REQUEST, "error reading request body: http: request body too large")
HEADERS_TOO_LARGE = b"431 Request Header Fields Too Large"
MAX_HEAD_BYTES = 64 * 1024
"""Request line and headers: CometBFT allows 1 MiB; Twisted rescans a partial line on every read, so a
line fed byte by byte costs its length squared: 64 KiB keeps that cheap and fits long URI params."""
IDLE_TIMEOUT_SECONDS = 10.0
"""CometBFT's read timeout (10 s), applied as Twisted's idle timeout: a silent connection is closed."""


PrebuiltAnswers = Callable[[str], Answer | None]
"""A method's prebuilt URI answer, or None when it has none (`RPCResource.prebuilt_answer`)."""


def _closing_answer(status: bytes, content_type: bytes, body: bytes) -> bytes:
    head = b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
    return head % (status, content_type, len(body)) + body


def _keep_alive_answer(answer: Answer, date: bytes) -> bytes:
    status = b"500 Internal Server Error" if answer.failed else b"200 OK"
    head = b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nDate: %s\r\nContent-Length: %d\r\n\r\n"
    return head % (status, date, len(answer.body)) + answer.body


class RPCChannel(http.HTTPChannel):
    """One client connection: served once the gate admits it, charged to the serving budget; refuses an
    oversized body or line."""

    site: RPCSite
    _refused = False
    MAX_LENGTH = MAX_HEAD_BYTES
    totalHeadersSize = MAX_HEAD_BYTES

    @property
    def refused(self) -> bool:
        """An answer-and-close was sent: nothing more is read or served on this connection."""
        return self._refused

    def connectionMade(self) -> None:
        self.site.gate.arrived(self)

    @property
    def _tcp(self) -> Any:
        """The TCP (or UNIX) transport, which also pauses, resumes and aborts."""
        return self.transport

    def hold(self) -> None:
        self._tcp.pauseProducing()

    def serve(self) -> None:
        super().connectionMade()  # type: ignore[no-untyped-call]
        self._tcp.resumeProducing()

    def drop(self) -> None:
        self._tcp.abortConnection()

    def resume(self) -> None:
        self._tcp.resumeProducing()  # a no-op once the connection is closing

    def dataReceived(self, data: bytes) -> None:
        """Parsing and answering what arrived is what the serving budget is charged with."""
        began = time.perf_counter()
        if not self._answered_plainly(data):
            super().dataReceived(data)  # type: ignore[no-untyped-call]
        self.site.spent(self, time.perf_counter() - began)

    def _answered_plainly(self, data: bytes) -> bool:
        """Answer a plain GET of a prebuilt answer on an idle connection; False leaves `data` to Twisted."""
        if not self._between_requests():
            return False
        method = plain_get_method(data, MAX_HEAD_BYTES)
        answer = self.site.prebuilt(method) if method is not None else None
        if answer is None:
            return False
        self.resetTimeout()  # type: ignore[no-untyped-call]
        self._tcp.write(_keep_alive_answer(answer, self.site.date_header()))
        return True

    def _between_requests(self) -> bool:
        """Nothing of a request received, parsed or being answered, and the connection stays open."""
        return (
            bool(self.persistent)
            and not self._refused
            and not self.requests
            and not self._buffer
            and self._receivedHeaderSize == 0
            and bool(self.line_mode)
        )

    def timeoutConnection(self) -> None:
        """Waiting for the serving budget is not idleness: the client may have a request queued."""
        if self.site.is_paused(self):
            self.setTimeout(self.timeOut)  # type: ignore[no-untyped-call]
            return
        super().timeoutConnection()  # type: ignore[no-untyped-call]

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        super().connectionLost(reason)  # type: ignore[no-untyped-call]
        self.site.gate.left(self)
        self.site.forget(self)

    @property
    def max_body_bytes(self) -> int:
        return self.site.limits.max_body_bytes

    def refuse_body(self) -> None:
        """Answer at once and close; whatever of the body still arrives is dropped."""
        body = envelope(None, error=BODY_TOO_LARGE)
        self._answer_and_close(b"400 Bad Request", b"application/json", body)

    def lineLengthExceeded(self, line: bytes) -> None:
        """A request or header line over the limit: answered as Go answers headers over its limit."""
        self._answer_and_close(HEADERS_TOO_LARGE, b"text/plain; charset=utf-8", HEADERS_TOO_LARGE)

    def _answer_and_close(self, status: bytes, content_type: bytes, body: bytes) -> None:
        if self._refused:
            return
        self._refused = True
        self._tcp.write(_closing_answer(status, content_type, body))
        self.loseConnection()  # type: ignore[no-untyped-call]

    def allContentReceived(self) -> None:
        if not self._refused:
            super().allContentReceived()  # type: ignore[no-untyped-call]


class RPCRequest(server.Request):
    """Counts the body against the channel's limit instead of buffering whatever the client sends."""

    channel: RPCChannel
    _body_bytes = 0

    def gotLength(self, length: int | None) -> None:
        if length is not None and length > self.channel.max_body_bytes:
            self.channel.refuse_body()
            return
        super().gotLength(length)  # type: ignore[no-untyped-call]

    def handleContentChunk(self, data: bytes) -> None:
        if self.channel.refused:
            return
        self._body_bytes += len(data)
        if self._body_bytes > self.channel.max_body_bytes:
            self.channel.refuse_body()
            return
        super().handleContentChunk(data)  # type: ignore[no-untyped-call]


class RPCSite(server.Site):
    """A site whose connections pass `gate`, whose requests obey `limits`, and whose clients pause while
    they overspend `budget`; idle timeouts run on the budget's clock (the reactor's)."""

    protocol = RPCChannel  # type: ignore[assignment]  # HTTP/1.1 only, no HTTP/2 negotiation
    requestFactory = RPCRequest

    def __init__(
        self, root: resource.Resource, limits: RPCLimits, budget: ServingBudget, prebuilt: PrebuiltAnswers
    ) -> None:
        super().__init__(  # type: ignore[no-untyped-call]
            root, timeout=IDLE_TIMEOUT_SECONDS, reactor=budget.clock
        )
        self.displayTracebacks = False
        self.prebuilt = prebuilt
        self._date: tuple[int, bytes] = (-1, b"")
        self.limits = limits
        self.gate = ConnectionGate(limits.max_open_connections)
        self.budget = budget
        self._paused: set[RPCChannel] = set()
        self._resuming: DelayedCall | None = None

    def date_header(self) -> bytes:
        """The HTTP date of now, formatted once a second."""
        second = int(self.budget.clock.seconds())
        if self._date[0] != second:
            self._date = (second, http.datetimeToString(second))  # type: ignore[no-untyped-call]
        return self._date[1]

    def spent(self, channel: RPCChannel, seconds: float) -> None:
        """Charge the budget; pause `channel` while the budget is overspent."""
        self.budget.charge(seconds)
        delay = self.budget.wait_seconds()
        if delay <= 0 or channel in self._paused or channel.refused:
            return
        channel.hold()
        self._paused.add(channel)
        if self._resuming is None:
            self._resuming = self.budget.clock.callLater(delay, self._resume)

    def _resume(self) -> None:
        self._resuming = None
        delay = self.budget.wait_seconds()
        if delay > 0:
            self._resuming = self.budget.clock.callLater(delay, self._resume)
            return
        paused, self._paused = self._paused, set()
        for channel in paused:
            channel.resume()

    def is_paused(self, channel: RPCChannel) -> bool:
        return channel in self._paused

    def forget(self, channel: RPCChannel) -> None:
        self._paused.discard(channel)

    def stop_throttling(self) -> None:
        """The listener is going away: close the clients waiting for budget (they are not read)."""
        cancel_call(self._resuming)
        self._resuming = None
        paused, self._paused = self._paused, set()
        for channel in paused:
            channel.drop()

    def log(self, request: http.Request) -> None:
        """No access log line per request (CometBFT logs them at debug level only): formatting one costs
        about a third of a `/status` answer."""
