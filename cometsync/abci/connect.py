"""Connecting the node to its app with the configured transport: CometBFT's `proxy.AppConns`, four
connections (consensus, mempool, query, snapshot) so a slow Query never waits behind a FinalizeBlock,
behind one `ABCIClient` that sends each method down the connection CometBFT uses for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twisted.internet import defer

from cometsync.abci.client import ABCIClient, GrpcABCIClient
from cometsync.abci.methods import CONNECTIONS, CONSENSUS, MEMPOOL, QUERY, SNAPSHOT, Method, TypedCalls
from cometsync.abci.retry import RetryPolicy
from cometsync.abci.socket_client import SocketABCIClient
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2

CONNECT_BUDGET_SECONDS = 5.0
"""How long start-up keeps retrying an app that refuses connections before it reports it unreachable."""


class AppConns(TypedCalls):
    """The four app connections as one `ABCIClient`."""

    checks_finalize_block = False  # the consensus client checks its own answers

    def __init__(self, address: str, connections: Mapping[str, ABCIClient]) -> None:
        self.address = address
        self.connections = dict(connections)

    @property
    def consensus(self) -> ABCIClient:
        return self.connections[CONSENSUS]

    @property
    def answers_in_order(self) -> bool:  # type: ignore[override]
        """Whether the consensus connection (FinalizeBlock, Commit) serves its calls in the order sent."""
        return self.consensus.answers_in_order

    @property
    def mempool(self) -> ABCIClient:
        return self.connections[MEMPOOL]

    @property
    def query_connection(self) -> ABCIClient:
        return self.connections[QUERY]

    @property
    def snapshot(self) -> ABCIClient:
        return self.connections[SNAPSHOT]

    def _call(self, method: Method, request: Any) -> defer.Deferred[Any]:
        call: Any = getattr(self.connections[method.connection], method.name)
        result: defer.Deferred[Any] = call(request)
        return result

    def close(self) -> None:
        for connection in self.connections.values():
            connection.close()


def transport_for(abci: str, address: str) -> str:
    """`grpc://` names a gRPC endpoint whatever `abci` says; otherwise `abci` ("socket" or "grpc") decides."""
    return "grpc" if address.strip().startswith("grpc://") else abci


async def open_connections(
    address: str,
    transport: str,
    *,
    call_timeout: float | None = 10.0,
    consensus_timeout: float | None = None,
    connect_budget: float = CONNECT_BUDGET_SECONDS,
    reactor: Any = None,
) -> AppConns:
    """All four connections; `ABCIError` (closing what was opened) when the app cannot be reached within
    `connect_budget` seconds, ValueError for a bad address. As in CometBFT, a gRPC channel is proven by
    an Echo, a socket by connecting (CometBFT never sends Echo there, and some apps mishandle it)."""
    retry = RetryPolicy(budget_seconds=connect_budget)
    options: dict[str, Any] = {
        "call_timeout": call_timeout,
        "consensus_timeout": consensus_timeout,
        "reactor": reactor,
    }
    if transport == "grpc":
        probe = GrpcABCIClient(address, retry=retry, **options)
        try:
            await probe.echo(abci_pb2.RequestEcho(message="cometsync"))
        finally:
            probe.close()
        return AppConns(address, {name: GrpcABCIClient(address, **options) for name in CONNECTIONS})
    opened: dict[str, ABCIClient] = {}
    try:
        for name in CONNECTIONS:
            client = opened[name] = SocketABCIClient(address, **options)
            await client.connect(retry)
    except BaseException:
        for opened_client in opened.values():
            opened_client.close()
        raise
    return AppConns(address, opened)
