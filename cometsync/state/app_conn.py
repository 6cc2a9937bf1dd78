"""The four ABCI calls the executor and handshake make, as a Protocol any Deferred-returning client meets.

`ReplayedResponseApp` answers FinalizeBlock with a saved response and makes Commit a no-op: the handshake
uses it (as Go's `newMockProxyApp`) to rebuild the state of a block the app already committed.
"""

from __future__ import annotations

from typing import Protocol

from twisted.internet import defer

from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2


class ConsensusApp(Protocol):
    """The calls the executor and handshake make (the node passes `cometsync.abci.connect.AppConns`)."""

    def info(self, request: abci_pb2.RequestInfo) -> defer.Deferred[abci_pb2.ResponseInfo]: ...

    def init_chain(
        self, request: abci_pb2.RequestInitChain
    ) -> defer.Deferred[abci_pb2.ResponseInitChain]: ...

    def finalize_block(
        self, request: abci_pb2.RequestFinalizeBlock
    ) -> defer.Deferred[abci_pb2.ResponseFinalizeBlock]: ...

    def commit(self, request: abci_pb2.RequestCommit) -> defer.Deferred[abci_pb2.ResponseCommit]: ...


class ReplayedResponseApp:
    """Stands in for an app that already executed and committed the block whose response was saved."""

    def __init__(self, response: abci_pb2.ResponseFinalizeBlock, app_info: abci_pb2.ResponseInfo) -> None:
        self._response = response
        self._info = app_info

    def info(self, request: abci_pb2.RequestInfo) -> defer.Deferred[abci_pb2.ResponseInfo]:
        return defer.succeed(self._info)

    def init_chain(self, request: abci_pb2.RequestInitChain) -> defer.Deferred[abci_pb2.ResponseInitChain]:
        return defer.succeed(abci_pb2.ResponseInitChain())

    def finalize_block(
        self, request: abci_pb2.RequestFinalizeBlock
    ) -> defer.Deferred[abci_pb2.ResponseFinalizeBlock]:
        return defer.succeed(self._response)

    def commit(self, request: abci_pb2.RequestCommit) -> defer.Deferred[abci_pb2.ResponseCommit]:
        return defer.succeed(abci_pb2.ResponseCommit())
