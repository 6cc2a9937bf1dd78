"""A deliberately wrong ABCI app for client tests: FinalizeBlock drops the last tx result.

Run as a script; prints "inconsistent app listening on 127.0.0.1:PORT" and serves until SIGTERM.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from cometsync.abci.kvstore.server import ABCIGrpcServer
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.proto.tendermint.abci import types_pb2_grpc as abci_grpc


class DropsLastTxResult(abci_grpc.ABCIServicer):
    """Answers FinalizeBlock with one tx result fewer than the block has txs."""

    def FinalizeBlock(
        self, request: abci_pb2.RequestFinalizeBlock, context: Any
    ) -> abci_pb2.ResponseFinalizeBlock:
        results = [abci_pb2.ExecTxResult() for _ in request.txs[:-1]]
        return abci_pb2.ResponseFinalizeBlock(tx_results=results, app_hash=bytes(8))


def main() -> None:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server = ABCIGrpcServer(DropsLastTxResult(), "127.0.0.1:0")
    port = server.start()
    print(f"inconsistent app listening on 127.0.0.1:{port}", flush=True)
    stop.wait()
    server.stop(1.0)


if __name__ == "__main__":
    main()
