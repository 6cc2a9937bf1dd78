"""Serve a test-only ABCI servicer on a free port, announce it, and stop on SIGTERM/SIGINT (the test apps'
shared `main`; `abci_process.ServerProcess` reads the announcement)."""

from __future__ import annotations

import signal
import threading

from cometsync.abci.kvstore.server import ABCIGrpcServer
from cometsync.proto.tendermint.abci import types_pb2_grpc as abci_grpc


def serve_until_stopped(servicer: abci_grpc.ABCIServicer, name: str) -> None:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server = ABCIGrpcServer(servicer, "127.0.0.1:0")
    port = server.start()
    print(f"{name} listening on 127.0.0.1:{port}", flush=True)
    stop.wait()
    server.stop(1.0)
