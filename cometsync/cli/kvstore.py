"""`cometsync kvstore`: CometBFT v0.38's example kvstore app, served over gRPC, persistent under --home.

Prints `kvstore listening on HOST:PORT` once it accepts calls, runs until SIGTERM/SIGINT, then stops
cleanly; a bad address, a port in use or a locked database is one error line and exit code 1.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

DB_SUBPATH = Path("data") / "kvstore.db"
STOP_GRACE_SECONDS = 5.0
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def _block_stop_signals() -> None:
    """Keep SIGTERM/SIGINT pending in this thread and every thread started after it (gRPC's) until
    `_wait_for_stop_signal` takes one: with a handler instead, a signal the kernel hands to a gRPC thread
    never wakes a main thread blocked on a lock, and the app would not exit."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def _wait_for_stop_signal() -> None:
    signal.sigwait(STOP_SIGNALS)


def kvstore(
    home: Annotated[Path, typer.Option("--home", help="Directory holding data/kvstore.db.")],
    listen: Annotated[
        str, typer.Option("--listen", help="gRPC address: 127.0.0.1:26658, grpc://…, tcp://…, port 0 = any.")
    ] = "127.0.0.1:26658",
    retain_blocks: Annotated[
        int, typer.Option("--retain-blocks", min=0, help="Blocks CometBFT should retain (0 = all).")
    ] = 0,
) -> None:
    """Run the example kvstore ABCI app (drop-in for CometBFT v0.38's) over gRPC."""
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
        raise _fail(str(exc)) from None
    try:
        storage = LevelDBStorage(home / DB_SUBPATH)
    except (plyvel.Error, OSError) as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):  # plyvel passes LevelDB's status as bytes
            reason = reason.decode(errors="replace")
        raise _fail(f"cannot open the kvstore database {home / DB_SUBPATH}: {reason}") from None
    try:
        server = ABCIGrpcServer(KVStoreServicer(KVStoreApp(storage, retain_blocks)), target)
        try:
            port = server.start()
        except ServerStartError as exc:
            raise _fail(str(exc)) from None
        shown = target if target.startswith("unix:") else f"{split_host_port(target)[0]}:{port}"
        typer.echo(f"kvstore listening on {shown}")
        sys.stdout.flush()
        _wait_for_stop_signal()
        server.stop(STOP_GRACE_SECONDS)
    finally:
        storage.close()
