"""Serving an ABCI app over CometBFT's socket protocol on plain threads (one per connection, as
CometBFT's `SocketServer` runs a goroutine pair per connection), calls serialised by one app lock.

Answers are buffered and written when a `Flush` request arrives, like CometBFT's server; an app error
becomes a `ResponseException` carrying its message, after which the connection is closed.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

from cometsync.abci.address import SocketAddress
from cometsync.abci.codec import MAX_FRAME_BYTES, FrameDecoder, encode_frame, parse
from cometsync.abci.errors import ABCIProtocolError
from cometsync.abci.kvstore.server import ServerStartError
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2

READ_BYTES = 256 * 1024
WRITE_BUFFER_BYTES = 64 * 1024
"""Answers are written at a Flush, or earlier once this much is waiting (as a bufio.Writer would)."""

Handler = Callable[[str, Any], Any]
"""(oneof name, request) -> response; raising `app_errors` turns into an exception reply."""


class ABCISocketServer:
    """Listens on a TCP or unix address; `start()` returns the bound address (port 0 picks one)."""

    def __init__(
        self,
        handle: Handler,
        address: SocketAddress,
        app_errors: tuple[type[Exception], ...],
        max_frame_bytes: int = MAX_FRAME_BYTES,
    ) -> None:
        self._handle = handle
        self._address = address
        self._app_errors = app_errors
        self._max_frame_bytes = max_frame_bytes
        self._app_lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self._guard = threading.Lock()
        self._stopping = threading.Event()

    def start(self) -> SocketAddress:
        try:
            listener = self._bind()
        except OSError as exc:
            raise ServerStartError(f"cannot listen on {self._address}: {exc.strerror or exc}") from None
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept_loop, name="abci-accept", daemon=True).start()
        if self._address.path:
            return self._address
        host, port = listener.getsockname()[:2]
        return SocketAddress(host=host, port=port)

    def _bind(self) -> socket.socket:
        if self._address.path:
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                listener.bind(self._address.path)
            except OSError:
                listener.close()
                raise
            return listener
        family, kind, proto, _, sockaddr = socket.getaddrinfo(
            self._address.host, self._address.port, type=socket.SOCK_STREAM
        )[0]
        listener = socket.socket(family, kind, proto)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(sockaddr)
        except OSError:
            listener.close()
            raise
        return listener

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed by stop()
            if connection.family != socket.AF_UNIX:
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._guard:
                self._connections.add(connection)
            threading.Thread(target=self._serve, args=(connection,), name="abci-conn", daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        """Read requests until the client closes, garbage arrives, or the app raises."""
        frames = FrameDecoder(self._max_frame_bytes)
        outgoing = bytearray()
        try:
            while data := connection.recv(READ_BYTES):
                for payload in frames.feed(data):
                    request = parse(abci_pb2.Request, payload)
                    answer, flush, fatal = self._answer(request)
                    outgoing += encode_frame(answer)
                    if flush or fatal or len(outgoing) >= WRITE_BUFFER_BYTES:
                        connection.sendall(outgoing)
                        outgoing.clear()
                    if fatal:
                        return
        except (OSError, ABCIProtocolError):
            return
        finally:
            with self._guard:
                self._connections.discard(connection)
            connection.close()

    def _answer(self, request: abci_pb2.Request) -> tuple[abci_pb2.Response, bool, bool]:
        """(response, is it a Flush, must the connection close after it)."""
        kind = request.WhichOneof("value")
        response = abci_pb2.Response()
        if kind is None:
            response.exception.error = "unknown request from client: an empty Request"
            return response, False, True
        try:
            with self._app_lock:
                answer = self._handle(kind, getattr(request, kind))
        except self._app_errors as exc:
            response.exception.error = str(exc)
            return response, False, True
        getattr(response, kind).CopyFrom(answer)
        return response, kind == "flush", False

    def stop(self) -> None:
        """Close the listener and every connection (a call in progress finishes first: it holds the lock)."""
        self._stopping.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
        with self._app_lock, self._guard:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
        if self._address.path:
            with contextlib.suppress(OSError):
                os.unlink(self._address.path)
