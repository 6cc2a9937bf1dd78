"""The socket-protocol client against real kvstore processes: every method, pipelining, unix sockets, typed
errors for an exception reply, a killed app and an app that is not there, and separate connections."""

from __future__ import annotations

import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

from abci_process import ServerProcess, start_kvstore, temp_home
from abci_proxy import RecordingProxy
from abci_session import every_method_round_trip
from node_cli import free_port
from twisted.internet import defer, reactor
from twisted.trial import unittest

from cometsync.abci import (
    ABCIAppException,
    ABCIConnectionLost,
    ABCIError,
    ABCITimeout,
    ABCIUnavailable,
    RetryPolicy,
    SocketABCIClient,
)
from cometsync.abci.connect import AppConns, open_connections
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2

PIPELINED_CALLS = 200


class SocketCase(unittest.TestCase):
    timeout = 90

    def kvstore(self, home: Path, listen: str = "127.0.0.1:0") -> ServerProcess:
        app = start_kvstore(home, listen, transport="socket")
        self.addCleanup(app.kill)
        return app

    @defer.inlineCallbacks
    def client(self, address: str, **options: Any) -> Generator[defer.Deferred[Any], Any, SocketABCIClient]:
        client = SocketABCIClient(address, **options)
        self.addCleanup(client.close)
        yield client.connect(RetryPolicy(budget_seconds=10.0))
        return client


class RoundTripTest(SocketCase):
    @defer.inlineCallbacks
    def test_every_method_round_trips(self) -> Generator[defer.Deferred[Any], Any, None]:
        app = self.kvstore(temp_home(self.addCleanup))
        client = yield self.client(f"tcp://{app.address}")
        yield every_method_round_trip(self, client)

    @defer.inlineCallbacks
    def test_pipelined_calls_are_answered_in_order(self) -> Generator[defer.Deferred[Any], Any, None]:
        app = self.kvstore(temp_home(self.addCleanup))
        client = yield self.client(app.address)
        calls = [client.echo(abci_pb2.RequestEcho(message=str(n))) for n in range(PIPELINED_CALLS)]
        answers = yield defer.gatherResults(calls)
        self.assertEqual([answer.message for answer in answers], [str(n) for n in range(PIPELINED_CALLS)])

    @defer.inlineCallbacks
    def test_unix_socket(self) -> Generator[defer.Deferred[Any], Any, None]:
        home = temp_home(self.addCleanup)
        app = self.kvstore(home, f"unix://{home / 'app.sock'}")
        client = yield self.client(app.address)
        info = yield client.info(abci_pb2.RequestInfo())
        self.assertEqual(info.version, "2.0.0")


class FailureTest(SocketCase):
    @defer.inlineCallbacks
    def test_exception_reply_is_typed_and_ends_the_client(self) -> Generator[defer.Deferred[Any], Any, None]:
        app = self.kvstore(temp_home(self.addCleanup))
        client = yield self.client(app.address)
        bad = client.finalize_block(abci_pb2.RequestFinalizeBlock(height=1, txs=[b"val=ed25519!AAAA!5"]))
        queued = client.info(abci_pb2.RequestInfo())
        failure = yield self.assertFailure(bad, ABCIAppException)
        self.assertIn("PubKeyEd25519", failure.app_message)
        self.assertIn("FinalizeBlock", str(failure))
        yield self.assertFailure(queued, ABCIConnectionLost)
        yield self.assertFailure(client.echo(abci_pb2.RequestEcho()), ABCIConnectionLost)

    @defer.inlineCallbacks
    def test_killed_app_fails_unanswered_calls(self) -> Generator[defer.Deferred[Any], Any, None]:
        app = self.kvstore(temp_home(self.addCleanup))
        client = yield self.client(app.address)
        yield client.echo(abci_pb2.RequestEcho(message="up"))
        self.addCleanup(app.thaw)
        app.freeze()
        pending = client.commit(abci_pb2.RequestCommit())
        app.kill()
        failure = yield self.assertFailure(pending, ABCIConnectionLost)
        self.assertIn("not re-sent", str(failure))

    @defer.inlineCallbacks
    def test_no_app_is_unavailable_within_the_budget(self) -> Generator[defer.Deferred[Any], Any, None]:
        address = f"127.0.0.1:{free_port()}"
        client = SocketABCIClient(address)
        started = time.monotonic()
        failure = yield self.assertFailure(
            client.connect(RetryPolicy(initial_delay=0.05, budget_seconds=1.0)), ABCIUnavailable
        )
        self.assertLess(time.monotonic() - started, 5.0)
        self.assertIn(address, str(failure))
        yield self.assertFailure(client.echo(abci_pb2.RequestEcho()), ABCIError)

    @defer.inlineCallbacks
    def test_deadline_on_a_frozen_app(self) -> Generator[defer.Deferred[Any], Any, None]:
        app = self.kvstore(temp_home(self.addCleanup))
        client = yield self.client(app.address, call_timeout=0.5)
        self.addCleanup(app.thaw)
        app.freeze()
        failure = yield self.assertFailure(client.query(abci_pb2.RequestQuery(data=b"a")), ABCITimeout)
        self.assertIn("Query", str(failure))
        app.thaw()
        info = yield client.info(abci_pb2.RequestInfo())  # the late Query answer is paired and dropped
        self.assertEqual(info.version, "2.0.0")


class ConnectionsTest(SocketCase):
    @defer.inlineCallbacks
    def test_held_query_connection_never_delays_finalize_block(
        self,
    ) -> Generator[defer.Deferred[Any], Any, None]:
        app = self.kvstore(temp_home(self.addCleanup))
        proxy = RecordingProxy(app.port)
        self.addCleanup(proxy.close)
        conns: AppConns = yield defer.ensureDeferred(
            open_connections(proxy.address, "socket", reactor=reactor)
        )
        self.addCleanup(conns.close)
        self.assertEqual(len(proxy.wait_links(4)), 4)  # consensus, mempool, query, snapshot, in that order
        proxy.hold(2)
        query = conns.query(abci_pb2.RequestQuery(data=b"k"))
        block = yield conns.finalize_block(abci_pb2.RequestFinalizeBlock(height=1, txs=[b"k=v"]))
        yield conns.commit(abci_pb2.RequestCommit())
        checked = yield conns.check_tx(abci_pb2.RequestCheckTx(tx=b"x=y"))
        self.assertEqual((len(block.tx_results), checked.code, query.called), (1, 0, False))
        proxy.release(2)
        found = yield query
        self.assertEqual(found.value, b"v")
        self.assertEqual(proxy.links[0].requests, ["finalize_block", "flush", "commit", "flush"])
        self.assertEqual(proxy.links[1].requests, ["check_tx", "flush"])
        self.assertEqual(proxy.links[2].requests, ["query", "flush"])
