"""The gRPC face of the kvstore: `tendermint.abci.ABCI` methods delegated, one at a time, to `KVStoreApp`.

gRPC runs handlers on a thread pool; a lock serialises them as CometBFT's local client does, and a
request the app refuses becomes an INTERNAL status carrying the app's reason.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import grpc

from cometsync.abci.kvstore.app import KVStoreApp, KVStoreError
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.proto.tendermint.abci import types_pb2_grpc as abci_grpc

Req = TypeVar("Req")
Resp = TypeVar("Resp")


class KVStoreServicer(abci_grpc.ABCIServicer):
    """Adapts `KVStoreApp` to the generated `ABCIServicer` interface."""

    def __init__(self, app: KVStoreApp) -> None:
        self._app = app
        self._lock = threading.Lock()

    def _run(self, method: Callable[[Req], Resp], request: Req, context: grpc.ServicerContext) -> Resp:
        with self._lock:
            try:
                return method(request)
            except KVStoreError as exc:
                context.abort(grpc.StatusCode.INTERNAL, str(exc))
                raise  # abort() always raises; this states it for the type checker

    def Echo(self, request: abci_pb2.RequestEcho, context: Any) -> abci_pb2.ResponseEcho:
        return self._run(self._app.echo, request, context)

    def Flush(self, request: abci_pb2.RequestFlush, context: Any) -> abci_pb2.ResponseFlush:
        return self._run(self._app.flush, request, context)

    def Info(self, request: abci_pb2.RequestInfo, context: Any) -> abci_pb2.ResponseInfo:
        return self._run(self._app.info, request, context)

    def CheckTx(self, request: abci_pb2.RequestCheckTx, context: Any) -> abci_pb2.ResponseCheckTx:
        return self._run(self._app.check_tx, request, context)

    def Query(self, request: abci_pb2.RequestQuery, context: Any) -> abci_pb2.ResponseQuery:
        return self._run(self._app.query, request, context)

    def Commit(self, request: abci_pb2.RequestCommit, context: Any) -> abci_pb2.ResponseCommit:
        return self._run(self._app.commit, request, context)

    def InitChain(self, request: abci_pb2.RequestInitChain, context: Any) -> abci_pb2.ResponseInitChain:
        return self._run(self._app.init_chain, request, context)

    def ListSnapshots(
        self, request: abci_pb2.RequestListSnapshots, context: Any
    ) -> abci_pb2.ResponseListSnapshots:
        return self._run(self._app.list_snapshots, request, context)

    def OfferSnapshot(
        self, request: abci_pb2.RequestOfferSnapshot, context: Any
    ) -> abci_pb2.ResponseOfferSnapshot:
        return self._run(self._app.offer_snapshot, request, context)

    def LoadSnapshotChunk(
        self, request: abci_pb2.RequestLoadSnapshotChunk, context: Any
    ) -> abci_pb2.ResponseLoadSnapshotChunk:
        return self._run(self._app.load_snapshot_chunk, request, context)

    def ApplySnapshotChunk(
        self, request: abci_pb2.RequestApplySnapshotChunk, context: Any
    ) -> abci_pb2.ResponseApplySnapshotChunk:
        return self._run(self._app.apply_snapshot_chunk, request, context)

    def PrepareProposal(
        self, request: abci_pb2.RequestPrepareProposal, context: Any
    ) -> abci_pb2.ResponsePrepareProposal:
        return self._run(self._app.prepare_proposal, request, context)

    def ProcessProposal(
        self, request: abci_pb2.RequestProcessProposal, context: Any
    ) -> abci_pb2.ResponseProcessProposal:
        return self._run(self._app.process_proposal, request, context)

    def ExtendVote(self, request: abci_pb2.RequestExtendVote, context: Any) -> abci_pb2.ResponseExtendVote:
        return self._run(self._app.extend_vote, request, context)

    def VerifyVoteExtension(
        self, request: abci_pb2.RequestVerifyVoteExtension, context: Any
    ) -> abci_pb2.ResponseVerifyVoteExtension:
        return self._run(self._app.verify_vote_extension, request, context)

    def FinalizeBlock(
        self, request: abci_pb2.RequestFinalizeBlock, context: Any
    ) -> abci_pb2.ResponseFinalizeBlock:
        return self._run(self._app.finalize_block, request, context)
