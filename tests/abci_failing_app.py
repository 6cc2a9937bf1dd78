"""The kvstore over gRPC, except that FinalizeBlock fails with INTERNAL from one height on: an app that
cannot execute a block mid-sync (a node must stop with the reason, not run on as a zombie).

Run as `abci_failing_app.py HEIGHT`; prints "failing app listening on 127.0.0.1:PORT" and serves (state in
memory) until SIGTERM.
"""

from __future__ import annotations

import sys
from typing import Any

import grpc
from abci_test_server import serve_until_stopped

from cometsync.abci.kvstore.app import KVStoreApp
from cometsync.abci.kvstore.servicer import KVStoreServicer
from cometsync.abci.kvstore.store import MemoryStorage
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2


def refusal(height: int) -> str:
    return f"test app cannot execute block {height}"


class FailsFinalizeBlockFrom(KVStoreServicer):
    def __init__(self, height: int) -> None:
        super().__init__(KVStoreApp(MemoryStorage()))
        self._height = height

    def FinalizeBlock(
        self, request: abci_pb2.RequestFinalizeBlock, context: Any
    ) -> abci_pb2.ResponseFinalizeBlock:
        if request.height >= self._height:
            context.abort(grpc.StatusCode.INTERNAL, refusal(request.height))
        return super().FinalizeBlock(request, context)


def main() -> None:
    serve_until_stopped(FailsFinalizeBlockFrom(int(sys.argv[1])), "failing app")


if __name__ == "__main__":
    main()
