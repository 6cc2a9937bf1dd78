"""The socket-protocol client against real kvstore processes: every method, pipelining, unix sockets, typed
errors for an exception reply, a killed app and an app that is not there, and separate connections."""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

from abci_process import ServerProcess, start_kvstore, temp_home
from abci_proxy import RecordingProxy
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
from cometsync.proto.tendermint.crypto import keys_pb2

PUB_KEY = bytes(range(32))
VAL_TX = b"val=ed25519!" + base64.b64encode(PUB_KEY) + b"!7"
PIPELINED_CALLS = 200


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


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
        echo = yield client.echo(abci_pb2.RequestEcho(message="hello"))
        self.assertEqual(echo.message, "hello")
        yield client.flush(abci_pb2.RequestFlush())
        genesis_val = abci_pb2.ValidatorUpdate(pub_key=keys_pb2.PublicKey(ed25519=bytes(32)), power=10)
        init = yield client.init_chain(abci_pb2.RequestInitChain(chain_id="c", validators=[genesis_val]))
        self.assertEqual(init.app_hash, bytes(8))
        check_bad = yield client.check_tx(abci_pb2.RequestCheckTx(tx=b"a=1=2"))
        self.assertEqual(check_bad.code, 2)
        prepared = yield client.prepare_proposal(
            abci_pb2.RequestPrepareProposal(txs=[b"k:v", b"bad", VAL_TX], max_tx_bytes=1000)
        )
        self.assertEqual(list(prepared.txs), [b"k=v", VAL_TX])
        processed = yield client.process_proposal(abci_pb2.RequestProcessProposal(txs=[b"bare"]))
        self.assertEqual(processed.status, abci_pb2.ResponseProcessProposal.REJECT)
        extension = yield client.extend_vote(abci_pb2.RequestExtendVote(height=1))
        self.assertEqual(extension.vote_extension, b"")
        verified = yield client.verify_vote_extension(abci_pb2.RequestVerifyVoteExtension(height=1))
        self.assertEqual(verified.status, abci_pb2.ResponseVerifyVoteExtension.ACCEPT)
        block = yield client.finalize_block(abci_pb2.RequestFinalizeBlock(height=1, txs=[b"a=1", VAL_TX]))
        self.assertEqual((block.app_hash, len(block.tx_results)), (bytes([4]) + bytes(7), 2))
        yield client.commit(abci_pb2.RequestCommit())
        info = yield client.info(abci_pb2.RequestInfo())
        self.assertEqual((info.last_block_height, info.last_block_app_hash), (1, block.app_hash))
        found = yield client.query(abci_pb2.RequestQuery(data=b"a"))
        self.assertEqual((found.value, found.log), (b"1", "exists"))
        snapshots = yield client.list_snapshots(abci_pb2.RequestListSnapshots())
        self.assertEqual(len(snapshots.snapshots), 0)
        offer = yield client.offer_snapshot(abci_pb2.RequestOfferSnapshot())
        self.assertEqual(offer.result, abci_pb2.ResponseOfferSnapshot.UNKNOWN)
        chunk = yield client.load_snapshot_chunk(abci_pb2.RequestLoadSnapshotChunk(height=1))
        self.assertEqual(chunk.chunk, b"")
        applied = yield client.apply_snapshot_chunk(abci_pb2.RequestApplySnapshotChunk(index=0))
        self.assertEqual(applied.result, abci_pb2.ResponseApplySnapshotChunk.UNKNOWN)

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
        self.assertEqual(len(proxy.links), 4)  # consensus, mempool, query, snapshot, in that order
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
