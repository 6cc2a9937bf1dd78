"""Connecting the node to its app with the configured transport: CometBFT's `proxy.AppConns`, four
connections (consensus, mempool, query, snapshot) so a slow Query never waits behind a FinalizeBlock,
behind one `ABCIClient` that sends each method down the connection CometBFT uses for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from twisted.internet import defer

from cometsync.abci.address import BUILTIN_APPS
from cometsync.abci.client import ABCIClient, GrpcABCIClient
from cometsync.abci.errors import ABCIError
from cometsync.abci.methods import CONNECTIONS, CONSENSUS, MEMPOOL, QUERY, SNAPSHOT, Method, TypedCalls
from cometsync.abci.retry import RetryPolicy
from cometsync.abci.socket_client import SocketABCIClient
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2

if TYPE_CHECKING:
    from cometsync.config import Config
    from cometsync.node.app_process import KVStoreProcess

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


def builtin_app(config: Config, reactor: Any = None) -> KVStoreProcess | None:
    """The (unstarted) kvstore child when `proxy_app` names a built-in app, serving the configured
    transport on `[cometsync] kvstore_laddr`; None for an address. The caller owns and stops it."""
    from cometsync.node.app_process import KVStoreProcess

    if config.base.proxy_app not in BUILTIN_APPS:
        return None
    transport = transport_for(config.base.abci, config.base.proxy_app)
    return KVStoreProcess(config.home, config.cometsync.kvstore_laddr, reactor, transport)


async def connect_app(config: Config, process: KVStoreProcess | None = None, reactor: Any = None) -> AppConns:
    """`[base] proxy_app` and `abci` as CometBFT reads them: with `process` (from `builtin_app`) the child
    is started and its address dialled, otherwise `proxy_app` is. Raises NodeStartError in one line."""
    from cometsync.node.errors import NodeStartError

    address = config.base.proxy_app
    transport = transport_for(config.base.abci, address)
    if process is not None:
        address = await process.start()
    options = config.cometsync
    try:
        return await open_connections(
            address,
            transport,
            call_timeout=options.abci_call_timeout.seconds or None,
            consensus_timeout=options.abci_consensus_timeout.seconds or None,
            reactor=reactor,
        )
    except (ABCIError, ValueError) as exc:
        prefix = "proxy_app" if isinstance(exc, ValueError) else f"cannot reach the ABCI app at {address}"
        raise NodeStartError(f"{prefix}: {exc} (abci = {transport!r})") from None
