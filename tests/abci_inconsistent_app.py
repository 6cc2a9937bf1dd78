"""A deliberately wrong ABCI app for client tests: FinalizeBlock drops the last tx result.

Run as a script; prints "inconsistent app listening on 127.0.0.1:PORT" and serves until SIGTERM.
"""

from __future__ import annotations

from typing import Any

from abci_test_server import serve_until_stopped

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
    serve_until_stopped(DropsLastTxResult(), "inconsistent app")


if __name__ == "__main__":
    main()
