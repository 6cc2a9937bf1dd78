"""Run the built-in kvstore app until a stop signal: the one serving path of `cometsync kvstore` and of the
node's kvstore child process (which calls it directly, without the CLI), over either ABCI transport.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from cometsync.abci.address import SocketAddress
    from cometsync.abci.kvstore.app import KVStoreApp
    from cometsync.abci.kvstore.server import ABCIGrpcServer
    from cometsync.abci.kvstore.socket_server import ABCISocketServer

DB_SUBPATH = Path("data") / "kvstore.db"
STOP_GRACE_SECONDS = 5.0
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
READY_PREFIX = "kvstore listening on "
"""The line a parent waits for on stdout (`node.app_process` reads it)."""
TRANSPORTS = ("socket", "grpc")
"""CometBFT's `abci` setting values; `socket` is CometBFT's default."""


class KVStoreServeError(Exception):
    """The app cannot serve: bad address, port in use, database locked or unreadable."""


def _block_stop_signals() -> None:
    """Keep SIGTERM/SIGINT pending in this thread and every thread started after it (gRPC's) until
    `signal.sigwait` takes one: with a handler instead, a signal the kernel hands to a gRPC thread never
    wakes a main thread blocked on a lock, and the app would not exit."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def announce_ready(address: str) -> None:
    """Print the ready line and flush it at once (a parent may be waiting on a pipe)."""
    print(f"{READY_PREFIX}{address}", flush=True)


def serve_kvstore(
    home: Path,
    listen: str,
    retain_blocks: int = 0,
    *,
    transport: str = "socket",
    on_ready: Callable[[str], None] = announce_ready,
) -> None:
    """Serve until SIGTERM/SIGINT, then stop gracefully; raises KVStoreServeError when it cannot start.

    The ready line names a TCP address as `host:port` (the bound port when 0 was asked), a unix one as
    `unix://path`, whatever the transport.
    """
    _block_stop_signals()  # before LevelDB and gRPC start their threads
    # gRPC's C core prints its own copy of bind errors unless silenced before it loads.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    import plyvel

    from cometsync.abci.kvstore.app import KVStoreApp
    from cometsync.abci.kvstore.server import ServerStartError
    from cometsync.abci.kvstore.store import LevelDBStorage

    if transport not in TRANSPORTS:
        raise KVStoreServeError(f"unknown ABCI transport {transport!r} (use {' or '.join(TRANSPORTS)})")
    try:
        server = server_for(transport, listen)
    except ValueError as exc:
        raise KVStoreServeError(str(exc)) from None
    try:
        storage = LevelDBStorage(home / DB_SUBPATH)
    except (plyvel.Error, OSError) as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):  # plyvel passes LevelDB's status as bytes
            reason = reason.decode(errors="replace")
        raise KVStoreServeError(f"cannot open the kvstore database {home / DB_SUBPATH}: {reason}") from None
    try:
        try:
            address = server.start(KVStoreApp(storage, retain_blocks))
        except ServerStartError as exc:
            raise KVStoreServeError(str(exc)) from None
        on_ready(address)
        signal.sigwait(STOP_SIGNALS)
        server.stop(STOP_GRACE_SECONDS)
    finally:
        storage.close()


class Serving(Protocol):
    """A server of either transport: `start` returns the address it listens on (as the ready line shows)."""

    def start(self, app: KVStoreApp) -> str: ...

    def stop(self, grace_seconds: float) -> None: ...


class _GrpcServing:
    def __init__(self, target: str) -> None:
        self._target = target
        self._server: ABCIGrpcServer | None = None

    def start(self, app: KVStoreApp) -> str:
        from cometsync.abci.address import split_host_port
        from cometsync.abci.kvstore.server import ABCIGrpcServer
        from cometsync.abci.kvstore.servicer import KVStoreServicer

        self._server = ABCIGrpcServer(KVStoreServicer(app), self._target)
        port = self._server.start()
        return (
            self._target if self._target.startswith("unix:") else f"{split_host_port(self._target)[0]}:{port}"
        )

    def stop(self, grace_seconds: float) -> None:
        if self._server is not None:
            self._server.stop(grace_seconds)


class _SocketServing:
    def __init__(self, address: SocketAddress) -> None:
        self._address = address
        self._server: ABCISocketServer | None = None

    def start(self, app: KVStoreApp) -> str:
        from cometsync.abci.kvstore.app import KVStoreError
        from cometsync.abci.kvstore.socket_server import ABCISocketServer

        self._server = ABCISocketServer(
            lambda method, request: getattr(app, method)(request), self._address, (KVStoreError,)
        )
        return str(self._server.start())

    def stop(self, grace_seconds: float) -> None:
        if self._server is not None:
            self._server.stop()


def server_for(transport: str, listen: str) -> Serving:
    """An unstarted server of `transport` ("socket" or "grpc") on `listen`; ValueError for a bad address."""
    from cometsync.abci.address import SocketAddress, grpc_target

    if transport == "grpc":
        return _GrpcServing(grpc_target(listen))
    return _SocketServing(SocketAddress.parse(listen))


def main_with_errors(home: Path, listen: str, retain_blocks: int = 0, transport: str = "socket") -> int:
    """`serve_kvstore` with CometBFT-style failure reporting: one `error:` line on stderr and exit code 1."""
    try:
        serve_kvstore(home, listen, retain_blocks, transport=transport)
    except KVStoreServeError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0
