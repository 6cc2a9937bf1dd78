"""The gRPC ABCI client against real subprocesses: our kvstore (all 16 methods, stall, restart), nothing
listening, and a deliberately inconsistent test app."""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

from abci_process import ServerProcess, start_inconsistent_app, start_kvstore, temp_home
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
from cometsync.proto.tendermint.crypto import keys_pb2

PUB_KEY = bytes(range(32))
VAL_TX = b"val=ed25519!" + base64.b64encode(PUB_KEY) + b"!7"
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

        echo = yield client.echo(abci_pb2.RequestEcho(message="hello"))
        self.assertEqual(echo.message, "hello")
        yield client.flush(abci_pb2.RequestFlush())
        genesis_val = abci_pb2.ValidatorUpdate(pub_key=keys_pb2.PublicKey(ed25519=bytes(32)), power=10)
        init = yield client.init_chain(abci_pb2.RequestInitChain(chain_id="c", validators=[genesis_val]))
        self.assertEqual(init.app_hash, bytes(8))
        check_ok = yield client.check_tx(abci_pb2.RequestCheckTx(tx=b"a=1"))
        check_bad = yield client.check_tx(abci_pb2.RequestCheckTx(tx=b"a=1=2"))
        self.assertEqual((check_ok.code, check_ok.gas_wanted, check_bad.code), (0, 1, 2))
        prepared = yield client.prepare_proposal(
            abci_pb2.RequestPrepareProposal(txs=[b"k:v", b"bad", VAL_TX], max_tx_bytes=1000)
        )
        self.assertEqual(list(prepared.txs), [b"k=v", VAL_TX])
        processed = yield client.process_proposal(abci_pb2.RequestProcessProposal(txs=[b"x:y", b"bare"]))
        self.assertEqual(processed.status, abci_pb2.ResponseProcessProposal.REJECT)
        extension = yield client.extend_vote(abci_pb2.RequestExtendVote(height=1))
        self.assertEqual(extension.vote_extension, b"")
        verified = yield client.verify_vote_extension(abci_pb2.RequestVerifyVoteExtension(height=1))
        self.assertEqual(verified.status, abci_pb2.ResponseVerifyVoteExtension.ACCEPT)

        block = yield client.finalize_block(abci_pb2.RequestFinalizeBlock(height=1, txs=[b"a=1", VAL_TX]))
        self.assertEqual(block.app_hash, bytes([4]) + bytes(7))
        self.assertEqual(len(block.tx_results), 2)
        self.assertEqual([u.power for u in block.validator_updates], [7])
        committed = yield client.commit(abci_pb2.RequestCommit())
        self.assertEqual(committed.retain_height, 0)

        info = yield client.info(abci_pb2.RequestInfo())
        self.assertEqual((info.last_block_height, info.last_block_app_hash), (1, block.app_hash))
        self.assertEqual((info.data, info.version, info.app_version), ('{"size":2}', "2.0.0", 1))
        found = yield client.query(abci_pb2.RequestQuery(data=b"a"))
        self.assertEqual((found.value, found.log, found.height), (b"1", "exists", 1))
        validator = yield client.query(abci_pb2.RequestQuery(path="/val", data=PUB_KEY))
        self.assertTrue(validator.value.endswith(b"\x10\x07"))

        snapshots = yield client.list_snapshots(abci_pb2.RequestListSnapshots())
        self.assertEqual(len(snapshots.snapshots), 0)
        offer = yield client.offer_snapshot(abci_pb2.RequestOfferSnapshot())
        self.assertEqual(offer.result, abci_pb2.ResponseOfferSnapshot.UNKNOWN)
        chunk = yield client.load_snapshot_chunk(abci_pb2.RequestLoadSnapshotChunk(height=1))
        self.assertEqual(chunk.chunk, b"")
        applied = yield client.apply_snapshot_chunk(abci_pb2.RequestApplySnapshotChunk(index=0))
        self.assertEqual(applied.result, abci_pb2.ResponseApplySnapshotChunk.UNKNOWN)

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
