"""Test helper: one session through all sixteen ABCI methods against a fresh kvstore, any client."""

from __future__ import annotations

import base64
from collections.abc import Generator
from typing import Any

from twisted.internet import defer
from twisted.trial import unittest

from cometsync.abci import ABCIClient
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.proto.tendermint.crypto import keys_pb2

PUB_KEY = bytes(range(32))
VAL_TX = b"val=ed25519!" + base64.b64encode(PUB_KEY) + b"!7"


@defer.inlineCallbacks
def every_method_round_trip(
    self: unittest.TestCase, client: ABCIClient
) -> Generator[defer.Deferred[Any], Any, None]:
    """Each method once, in a valid order, with the kvstore's known answers checked."""
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
