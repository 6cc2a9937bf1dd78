"""The client side of CometBFT v0.38's `tendermint.abci.ABCI` gRPC service, for code on Twisted's reactor.

Each call is a grpc `.future()` on the synchronous stub; its completion is handed back to the reactor
with `callFromThread`, so the reactor thread never blocks. UNAVAILABLE is retried with backoff (the app
may be restarting) within a `RetryPolicy` only for calls safe to repeat (`Method.repeatable`): a
consensus call may have reached the app before the connection broke, so it fails with
`ABCIConnectionLost` and is never re-sent. Deadlines and error statuses become typed `ABCIError`s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import grpc
from twisted.internet import defer

from cometsync.abci.address import grpc_target
from cometsync.abci.errors import ABCIConnectionLost, ABCIError, ABCITimeout, ABCIUnavailable
from cometsync.abci.methods import CONSENSUS, Method, TypedCalls
from cometsync.abci.retry import RetryPolicy
from cometsync.clock import Clock, DelayedCall, reactor_or_global
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.proto.tendermint.abci import types_pb2_grpc as abci_grpc

Resp = TypeVar("Resp")

_CHANNEL_OPTIONS = [
    # gRPC's own reconnect backoff (1 s growing to 120 s) would outlast our retry budget after an app restart.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    # Blocks can be far larger than gRPC's 4 MiB default message limit.
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
    # Each client its own TCP connection (CometBFT's four app connections), not one shared subchannel.
    ("grpc.use_local_subchannel_pool", 1),
    # An idle channel would drop its connection (default: after 30 min) and look like a lost app.
    ("grpc.client_idle_timeout_ms", 2**31 - 1),
]


class ABCIClient(Protocol):
    """One ABCI connection: every method returns a Deferred firing with the response or an `ABCIError`."""

    answers_in_order: bool
    """Calls are served one at a time in the order sent (see `TypedCalls`)."""

    def echo(self, request: abci_pb2.RequestEcho) -> defer.Deferred[abci_pb2.ResponseEcho]: ...

    def flush(self, request: abci_pb2.RequestFlush) -> defer.Deferred[abci_pb2.ResponseFlush]: ...

    def info(self, request: abci_pb2.RequestInfo) -> defer.Deferred[abci_pb2.ResponseInfo]: ...

    def init_chain(
        self, request: abci_pb2.RequestInitChain
    ) -> defer.Deferred[abci_pb2.ResponseInitChain]: ...

    def query(self, request: abci_pb2.RequestQuery) -> defer.Deferred[abci_pb2.ResponseQuery]: ...

    def check_tx(self, request: abci_pb2.RequestCheckTx) -> defer.Deferred[abci_pb2.ResponseCheckTx]: ...

    def commit(self, request: abci_pb2.RequestCommit) -> defer.Deferred[abci_pb2.ResponseCommit]: ...

    def list_snapshots(
        self, request: abci_pb2.RequestListSnapshots
    ) -> defer.Deferred[abci_pb2.ResponseListSnapshots]: ...

    def offer_snapshot(
        self, request: abci_pb2.RequestOfferSnapshot
    ) -> defer.Deferred[abci_pb2.ResponseOfferSnapshot]: ...

    def load_snapshot_chunk(
        self, request: abci_pb2.RequestLoadSnapshotChunk
    ) -> defer.Deferred[abci_pb2.ResponseLoadSnapshotChunk]: ...

    def apply_snapshot_chunk(
        self, request: abci_pb2.RequestApplySnapshotChunk
    ) -> defer.Deferred[abci_pb2.ResponseApplySnapshotChunk]: ...

    def prepare_proposal(
        self, request: abci_pb2.RequestPrepareProposal
    ) -> defer.Deferred[abci_pb2.ResponsePrepareProposal]: ...

    def process_proposal(
        self, request: abci_pb2.RequestProcessProposal
    ) -> defer.Deferred[abci_pb2.ResponseProcessProposal]: ...

    def extend_vote(
        self, request: abci_pb2.RequestExtendVote
    ) -> defer.Deferred[abci_pb2.ResponseExtendVote]: ...

    def verify_vote_extension(
        self, request: abci_pb2.RequestVerifyVoteExtension
    ) -> defer.Deferred[abci_pb2.ResponseVerifyVoteExtension]: ...

    def finalize_block(
        self, request: abci_pb2.RequestFinalizeBlock
    ) -> defer.Deferred[abci_pb2.ResponseFinalizeBlock]: ...

    def close(self) -> None: ...


class ReactorLike(Clock, Protocol):
    """The part of Twisted's reactor the client needs (time, timers, and re-entry from gRPC threads)."""

    def callFromThread(self, callable: Callable[..., Any], *args: Any, **kw: Any) -> None: ...


class _Call:
    """One logical ABCI call: attempts on the gRPC stub until success, a final error, or cancellation."""

    def __init__(
        self,
        client: GrpcABCIClient,
        method: Method,
        invoke: Callable[[], grpc.Future],
        timeout: float | None,
    ) -> None:
        self._client = client
        self._method = method
        self._invoke = invoke
        self._timeout = timeout
        self._started = client.reactor.seconds()
        self._attempts = 0
        self._future: grpc.Future | None = None
        self._retry_call: DelayedCall | None = None
        self.result: defer.Deferred[Any] = defer.Deferred(lambda _: self.abort())

    def attempt(self) -> None:
        self._retry_call = None
        self._attempts += 1
        self._future = self._invoke()
        self._future.add_done_callback(lambda f: self._client.reactor.callFromThread(self._on_done, f))

    def abort(self) -> None:
        """Stop trying (cancellation or client close); the result is failed by the caller of abort."""
        if self._retry_call is not None and self._retry_call.active():
            self._retry_call.cancel()
        if self._future is not None:
            self._future.cancel()

    def fail(self, error: ABCIError) -> None:
        self.abort()
        if not self.result.called:
            self.result.errback(error)

    def _on_done(self, future: grpc.Future) -> None:
        current = self._future
        if self.result.called or current is None or future is not current:
            return  # already settled, or the completion of an attempt that was superseded
        if future.cancelled():
            where = f"ABCI {self._method.rpc} to {self._client.address}"
            self.result.errback(ABCIError(f"{where} was cancelled"))
            return
        error = future.exception()
        if error is None:
            self.result.callback(future.result())
            return
        self._on_rpc_error(error)

    def _on_rpc_error(self, error: grpc.RpcError) -> None:
        code, details = error.code(), error.details()
        where = f"ABCI {self._method.rpc} to {self._client.address}"
        if (
            code == grpc.StatusCode.UNAVAILABLE
            and not self._method.repeatable
            and self._client.connected_once
        ):
            self.result.errback(
                ABCIConnectionLost(
                    f"{where}: the app became unreachable ({details}); the call may have reached it, so it "
                    "is not re-sent; restart the node (its handshake replays)"
                )
            )
        elif code == grpc.StatusCode.UNAVAILABLE:
            elapsed = self._client.reactor.seconds() - self._started
            delay = None if self._client.closed else self._client.retry.next_delay(self._attempts, elapsed)
            if delay is not None:
                self._retry_call = self._client.reactor.callLater(delay, self.attempt)
                return
            self.result.errback(
                ABCIUnavailable(
                    f"{where}: app unreachable after {self._attempts} attempts over {elapsed:.1f}s "
                    f"({details}); check that the ABCI app is running and serving gRPC on "
                    f"{self._client.target} (proxy_app / --listen)"
                )
            )
        elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
            self.result.errback(ABCITimeout(f"{where}: no answer within {self._timeout}s ({details})"))
        else:
            self.result.errback(ABCIError(f"{where} failed: {code.name}: {details}"))


class GrpcABCIClient(TypedCalls):
    """`ABCIClient` over gRPC; `address` as CometBFT's proxy_app (`grpc://127.0.0.1:26658`, `host:port`).

    `call_timeout` bounds each attempt of a call on the query, mempool and snapshot connections,
    `consensus_timeout` each call on the consensus connection (None: no deadline, as CometBFT).
    Only repeatable calls are retried; `app_hash_size`, if given, is checked on every FinalizeBlock.
    """

    def __init__(
        self,
        address: str,
        *,
        call_timeout: float | None = 10.0,
        consensus_timeout: float | None = None,
        retry: RetryPolicy | None = None,
        app_hash_size: int | None = None,
        reactor: ReactorLike | None = None,
    ) -> None:
        self.reactor: ReactorLike = reactor_or_global(reactor)
        self.address = address
        self.target = grpc_target(address)
        self.retry = retry if retry is not None else RetryPolicy()
        self.closed = False
        self.app_hash_size = app_hash_size
        self._call_timeout = call_timeout
        self._consensus_timeout = consensus_timeout
        self._channel = grpc.insecure_channel(self.target, options=_CHANNEL_OPTIONS)
        self._stub = abci_grpc.ABCIStub(self._channel)  # type: ignore[no-untyped-call]
        self._calls: set[_Call] = set()
        self.connected_once = False
        """The channel reached the app at least once: a consensus call failing now may have reached it."""
        self.connection_lost = False
        """A connected channel left READY (the app went away, maybe restarted): consensus calls refused."""
        self._channel.subscribe(self._on_connectivity, try_to_connect=False)

    def _on_connectivity(self, state: grpc.ChannelConnectivity) -> None:
        """Runs on a gRPC thread; plain attribute writes, read by the reactor thread."""
        if state == grpc.ChannelConnectivity.READY:
            self.connected_once = True
        elif self.connected_once and not self.closed:
            self.connection_lost = True

    def _call(self, method: Method, request: Any) -> defer.Deferred[Any]:
        if self.closed:
            return defer.fail(ABCIError(f"ABCI {method.rpc}: the client for {self.address} is closed"))
        if self.connection_lost and not method.repeatable:
            return defer.fail(
                ABCIConnectionLost(
                    f"ABCI {method.rpc} to {self.address}: not sent: the connection to the app was lost "
                    "since the last call (the app may have restarted without the block in progress); "
                    "restart the node (its handshake replays)"
                )
            )
        deadline = self._consensus_timeout if method.connection == CONSENSUS else self._call_timeout
        multicallable = getattr(self._stub, method.rpc)
        call = _Call(self, method, lambda: multicallable.future(request, timeout=deadline), deadline)
        self._calls.add(call)

        def forget(result: object) -> object:
            self._calls.discard(call)
            return result

        call.result.addBoth(forget)
        call.attempt()
        return call.result

    def close(self) -> None:
        """Fail every pending call with `ABCIError`, stop retries and close the channel."""
        if self.closed:
            return
        self.closed = True
        for call in list(self._calls):
            call.fail(ABCIError(f"ABCI client for {self.address} closed"))
        self._channel.close()
