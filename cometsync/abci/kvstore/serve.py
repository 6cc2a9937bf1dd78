"""Run the built-in kvstore app until a stop signal: the one serving path of `cometsync kvstore` and of the
node's kvstore child process (which calls it directly, without the CLI).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

DB_SUBPATH = Path("data") / "kvstore.db"
STOP_GRACE_SECONDS = 5.0
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
READY_PREFIX = "kvstore listening on "
"""The line a parent waits for on stdout (`node.app_process` reads it)."""


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
    on_ready: Callable[[str], None] = announce_ready,
) -> None:
    """Serve until SIGTERM/SIGINT, then stop gracefully; raises KVStoreServeError when it cannot start."""
    _block_stop_signals()  # before LevelDB and gRPC start their threads
    # gRPC's C core prints its own copy of bind errors unless silenced before it loads.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    import plyvel

    from cometsync.abci.address import grpc_target, split_host_port
    from cometsync.abci.kvstore.app import KVStoreApp
    from cometsync.abci.kvstore.server import ABCIGrpcServer, ServerStartError
    from cometsync.abci.kvstore.servicer import KVStoreServicer
    from cometsync.abci.kvstore.store import LevelDBStorage

    try:
        target = grpc_target(listen)
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
        server = ABCIGrpcServer(KVStoreServicer(KVStoreApp(storage, retain_blocks)), target)
        try:
            port = server.start()
        except ServerStartError as exc:
            raise KVStoreServeError(str(exc)) from None
        on_ready(target if target.startswith("unix:") else f"{split_host_port(target)[0]}:{port}")
        signal.sigwait(STOP_SIGNALS)
        server.stop(STOP_GRACE_SECONDS)
    finally:
        storage.close()


def main_with_errors(home: Path, listen: str, retain_blocks: int = 0) -> int:
    """`serve_kvstore` with CometBFT-style failure reporting: one `error:` line on stderr and exit code 1."""
    try:
        serve_kvstore(home, listen, retain_blocks)
    except KVStoreServeError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0
