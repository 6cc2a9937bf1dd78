"""The sixteen ABCI 2.0 methods: their wire names, which of CometBFT's four connections carries each, and
which are safe to send again after a failure. `TypedCalls` gives every client the same typed methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer

from cometsync.abci.checks import check_finalize_block_response
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2

CONSENSUS = "consensus"
MEMPOOL = "mempool"
QUERY = "query"
SNAPSHOT = "snapshot"
CONNECTIONS = (CONSENSUS, MEMPOOL, QUERY, SNAPSHOT)
"""CometBFT's `proxy.AppConns`, in the order it starts them."""


@dataclass(frozen=True)
class Method:
    """`name`: the oneof field of `Request`/`Response` (and the kvstore app's method); `rpc`: gRPC's."""

    name: str
    rpc: str
    connection: str
    repeatable: bool
    """True when sending it twice cannot change the app (reads); only these are ever retried."""


METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Method("echo", "Echo", QUERY, True),
        Method("flush", "Flush", QUERY, True),
        Method("info", "Info", QUERY, True),
        Method("query", "Query", QUERY, True),
        Method("check_tx", "CheckTx", MEMPOOL, True),
        Method("init_chain", "InitChain", CONSENSUS, False),
        Method("prepare_proposal", "PrepareProposal", CONSENSUS, False),
        Method("process_proposal", "ProcessProposal", CONSENSUS, False),
        Method("extend_vote", "ExtendVote", CONSENSUS, False),
        Method("verify_vote_extension", "VerifyVoteExtension", CONSENSUS, False),
        Method("finalize_block", "FinalizeBlock", CONSENSUS, False),
        Method("commit", "Commit", CONSENSUS, False),
        Method("list_snapshots", "ListSnapshots", SNAPSHOT, True),
        Method("load_snapshot_chunk", "LoadSnapshotChunk", SNAPSHOT, True),
        Method("offer_snapshot", "OfferSnapshot", SNAPSHOT, False),
        Method("apply_snapshot_chunk", "ApplySnapshotChunk", SNAPSHOT, False),
    )
}


class TypedCalls(ABC):
    """The typed face of an ABCI client; a subclass implements `_call(method, request)`.

    FinalizeBlock responses are checked against their block (`check_finalize_block_response`) unless
    `checks_finalize_block` is False (a router whose clients already check). `answers_in_order` says
    the app takes one connection's calls one at a time, in the order sent (CometBFT's socket protocol;
    gRPC serves each call on its own stream), so a caller may send the next call before an answer.
    """

    app_hash_size: int | None = None
    checks_finalize_block = True
    answers_in_order = False

    @abstractmethod
    def _call(self, method: Method, request: Any) -> defer.Deferred[Any]:
        """Send `request` for `method` on the right connection; fires with the typed response."""

    def echo(self, request: abci_pb2.RequestEcho) -> defer.Deferred[abci_pb2.ResponseEcho]:
        return self._call(METHODS["echo"], request)

    def flush(self, request: abci_pb2.RequestFlush) -> defer.Deferred[abci_pb2.ResponseFlush]:
        return self._call(METHODS["flush"], request)

    def info(self, request: abci_pb2.RequestInfo) -> defer.Deferred[abci_pb2.ResponseInfo]:
        return self._call(METHODS["info"], request)

    def init_chain(self, request: abci_pb2.RequestInitChain) -> defer.Deferred[abci_pb2.ResponseInitChain]:
        return self._call(METHODS["init_chain"], request)

    def query(self, request: abci_pb2.RequestQuery) -> defer.Deferred[abci_pb2.ResponseQuery]:
        return self._call(METHODS["query"], request)

    def check_tx(self, request: abci_pb2.RequestCheckTx) -> defer.Deferred[abci_pb2.ResponseCheckTx]:
        return self._call(METHODS["check_tx"], request)

    def commit(self, request: abci_pb2.RequestCommit) -> defer.Deferred[abci_pb2.ResponseCommit]:
        return self._call(METHODS["commit"], request)

    def list_snapshots(
        self, request: abci_pb2.RequestListSnapshots
    ) -> defer.Deferred[abci_pb2.ResponseListSnapshots]:
        return self._call(METHODS["list_snapshots"], request)

    def offer_snapshot(
        self, request: abci_pb2.RequestOfferSnapshot
    ) -> defer.Deferred[abci_pb2.ResponseOfferSnapshot]:
        return self._call(METHODS["offer_snapshot"], request)

    def load_snapshot_chunk(
        self, request: abci_pb2.RequestLoadSnapshotChunk
    ) -> defer.Deferred[abci_pb2.ResponseLoadSnapshotChunk]:
        return self._call(METHODS["load_snapshot_chunk"], request)

    def apply_snapshot_chunk(
        self, request: abci_pb2.RequestApplySnapshotChunk
    ) -> defer.Deferred[abci_pb2.ResponseApplySnapshotChunk]:
        return self._call(METHODS["apply_snapshot_chunk"], request)

    def prepare_proposal(
        self, request: abci_pb2.RequestPrepareProposal
    ) -> defer.Deferred[abci_pb2.ResponsePrepareProposal]:
        return self._call(METHODS["prepare_proposal"], request)

    def process_proposal(
        self, request: abci_pb2.RequestProcessProposal
    ) -> defer.Deferred[abci_pb2.ResponseProcessProposal]:
        return self._call(METHODS["process_proposal"], request)

    def extend_vote(self, request: abci_pb2.RequestExtendVote) -> defer.Deferred[abci_pb2.ResponseExtendVote]:
        return self._call(METHODS["extend_vote"], request)

    def verify_vote_extension(
        self, request: abci_pb2.RequestVerifyVoteExtension
    ) -> defer.Deferred[abci_pb2.ResponseVerifyVoteExtension]:
        return self._call(METHODS["verify_vote_extension"], request)

    def finalize_block(
        self, request: abci_pb2.RequestFinalizeBlock
    ) -> defer.Deferred[abci_pb2.ResponseFinalizeBlock]:
        """A response inconsistent with the block fails the call (`ABCIInconsistent`)."""
        result = self._call(METHODS["finalize_block"], request)
        if not self.checks_finalize_block:
            return result

        def checked(response: abci_pb2.ResponseFinalizeBlock) -> abci_pb2.ResponseFinalizeBlock:
            check_finalize_block_response(request.txs, response, self.app_hash_size)
            return response

        return result.addCallback(checked)
