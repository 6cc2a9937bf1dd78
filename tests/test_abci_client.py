"""The gRPC ABCI client against real subprocesses: our kvstore (all 16 methods, stall, restart), nothing
listening, and a deliberately inconsistent test app."""

from __future__ import annotations

import socket
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

from abci_process import ServerProcess, start_inconsistent_app, start_kvstore, temp_home
from abci_session import every_method_round_trip
from twisted.internet import defer
from twisted.trial import unittest

from cometsync.abci import (
    ABCIError,
    ABCIInconsistent,
    ABCITimeout,
    ABCIUnavailable,
    GrpcABCIClient,
    RetryPolicy,
)
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2

FAST_RETRY = RetryPolicy(initial_delay=0.02, max_delay=0.2, budget_seconds=15.0)

WARM_UP_TRIES = 20


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ClientCase(unittest.TestCase):
    timeout = 90

    def client_for(self, address: str, **options: Any) -> GrpcABCIClient:
        client = GrpcABCIClient(address, **{"retry": FAST_RETRY, **options})
        self.addCleanup(client.close)
        return client

    def kvstore(self, home: Path, listen: str = "127.0.0.1:0") -> ServerProcess:
        app = start_kvstore(home, listen)
        self.addCleanup(app.kill)
        return app


class KVStoreRoundTripTest(ClientCase):
    @defer.inlineCallbacks
    def test_every_method_round_trips(self) -> Generator[defer.Deferred[Any], Any, None]:
        app = self.kvstore(temp_home(self.addCleanup))
        client = self.client_for(f"grpc://{app.address}")

        yield every_method_round_trip(self, client)

    @defer.inlineCallbacks
    def test_app_error_becomes_abci_error_with_reason(self) -> Generator[defer.Deferred[Any], Any, None]:
        app = self.kvstore(temp_home(self.addCleanup))
        client = self.client_for(app.address)
        failure = yield self.assertFailure(
            client.finalize_block(abci_pb2.RequestFinalizeBlock(height=1, txs=[b"val=ed25519!AAAA!5"])),
            ABCIError,
        )
        self.assertNotIsInstance(failure, ABCIUnavailable)
        self.assertIn("PubKeyEd25519", str(failure))


class AppFailureTest(ClientCase):
    @defer.inlineCallbacks
    def test_stalled_app_times_out(self) -> Generator[defer.Deferred[Any], Any, None]:
        app = self.kvstore(temp_home(self.addCleanup))
        client = self.client_for(app.address, call_timeout=0.5)
        yield self._connected(client)
        self.addCleanup(app.thaw)
        app.freeze()
        started = time.monotonic()
        failure = yield self.assertFailure(client.echo(abci_pb2.RequestEcho(message="x")), ABCITimeout)
        self.assertLess(time.monotonic() - started, 5.0)
        self.assertIn("Echo", str(failure))

    @defer.inlineCallbacks
    def _connected(self, client: GrpcABCIClient) -> Generator[defer.Deferred[Any], Any, None]:
        """A first answer within the short deadline; a busy machine may need a few tries to connect."""
        for _ in range(WARM_UP_TRIES):
            try:
                yield client.echo(abci_pb2.RequestEcho(message="up"))
                return
            except ABCITimeout:
                continue
        self.fail(f"the app did not answer within {WARM_UP_TRIES} short deadlines")

    @defer.inlineCallbacks
    def test_reconnects_when_the_app_restarts(self) -> Generator[defer.Deferred[Any], Any, None]:
        home = temp_home(self.addCleanup)
        first = self.kvstore(home)
        client = self.client_for(first.address)
        yield client.finalize_block(abci_pb2.RequestFinalizeBlock(height=1, txs=[b"k=v"]))
        yield client.commit(abci_pb2.RequestCommit())
        first.kill()  # SIGKILL: only what Commit wrote survives
        pending = client.info(abci_pb2.RequestInfo())
        self.kvstore(home, first.address)
        info = yield pending
        self.assertEqual((info.last_block_height, info.last_block_app_hash), (1, bytes([2]) + bytes(7)))

    @defer.inlineCallbacks
    def test_app_never_started_is_unavailable(self) -> Generator[defer.Deferred[Any], Any, None]:
        address = f"127.0.0.1:{free_port()}"
        client = self.client_for(address, retry=RetryPolicy(initial_delay=0.05, budget_seconds=1.0))
        started = time.monotonic()
        failure = yield self.assertFailure(client.info(abci_pb2.RequestInfo()), ABCIUnavailable)
        self.assertLess(time.monotonic() - started, 5.0)
        self.assertIn(address, str(failure))
        self.assertIn("attempts", str(failure))

    @defer.inlineCallbacks
    def test_inconsistent_finalize_block(self) -> Generator[defer.Deferred[Any], Any, None]:
        app = start_inconsistent_app()
        self.addCleanup(app.kill)
        client = self.client_for(app.address)
        failure = yield self.assertFailure(
            client.finalize_block(abci_pb2.RequestFinalizeBlock(height=1, txs=[b"a=1", b"b=2"])),
            ABCIInconsistent,
        )
        self.assertIn("1 tx results for a block of 2 txs", str(failure))

    @defer.inlineCallbacks
    def test_close_fails_pending_calls(self) -> Generator[defer.Deferred[Any], Any, None]:
        app = self.kvstore(temp_home(self.addCleanup))
        client = self.client_for(app.address)
        yield client.echo(abci_pb2.RequestEcho(message="up"))
        self.addCleanup(app.thaw)
        app.freeze()
        pending = client.echo(abci_pb2.RequestEcho(message="never answered"))
        client.close()
        yield self.assertFailure(pending, ABCIError)
        yield self.assertFailure(client.flush(abci_pb2.RequestFlush()), ABCIError)
