"""InitChain carries genesis `app_state` byte for byte as genesis.json spells it (Go's json.RawMessage),
and the handshake of a fresh node sends exactly the request CometBFT v0.38.25 sends."""

from __future__ import annotations

import json
from pathlib import Path

from abci_process import temp_home
from state_fixtures import LOCALNET
from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.state import Handshaker, StateStore
from cometsync.state.handshake import init_chain_request
from cometsync.store import BlockStore
from cometsync.types import Genesis

# Re-serialising this would change it: spacing, key order, escapes, 1.0 and 1e2, a 2^64 integer.
ODD_APP_STATE = '{ "z": 1.0,\n  "a" : [1e2, 18446744073709551616, "\\u00e9", "é", "<&>"],  "k": {} }'


def genesis_text(app_state: str | None) -> str:
    """The real localnet genesis.json with `app_state` spelled as given (None: no such member)."""
    text = (LOCALNET / "genesis.json").read_text().rstrip()
    assert text.endswith("}") and '"app_state"' not in text
    if app_state is None:
        return text
    return text[:-1].rstrip() + ',\n  "app_state":   ' + app_state + "  \n}\n"


def load(tmp_path: Path, app_state: str | None) -> Genesis:
    path = tmp_path / "genesis.json"
    path.write_text(genesis_text(app_state), encoding="utf-8")
    return Genesis.load(path)


class RecordingApp:
    """A fresh app (height 0) that records the InitChain request, answering as CometBFT's kvstore."""

    def __init__(self) -> None:
        self.init_chain_requests: list[abci_pb2.RequestInitChain] = []

    def info(self, request: abci_pb2.RequestInfo) -> defer.Deferred[abci_pb2.ResponseInfo]:
        return defer.succeed(abci_pb2.ResponseInfo(app_version=1, last_block_height=0))

    def init_chain(self, request: abci_pb2.RequestInitChain) -> defer.Deferred[abci_pb2.ResponseInitChain]:
        self.init_chain_requests.append(request)
        return defer.succeed(abci_pb2.ResponseInitChain(app_hash=bytes(8)))

    def finalize_block(
        self, request: abci_pb2.RequestFinalizeBlock
    ) -> defer.Deferred[abci_pb2.ResponseFinalizeBlock]:
        raise AssertionError("a fresh node with an empty block store executes nothing")

    def commit(self, request: abci_pb2.RequestCommit) -> defer.Deferred[abci_pb2.ResponseCommit]:
        raise AssertionError("a fresh node with an empty block store commits nothing")


class GenesisAppStateTest(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = temp_home(self.addCleanup)

    def test_app_state_bytes_are_the_files_own(self) -> None:
        genesis = load(self.tmp, ODD_APP_STATE)
        self.assertEqual(genesis.app_state_bytes, ODD_APP_STATE.encode("utf-8"))
        self.assertEqual(genesis.app_state, json.loads(ODD_APP_STATE))
        self.assertEqual(init_chain_request(genesis).app_state_bytes, ODD_APP_STATE.encode("utf-8"))

    def test_absent_null_and_string_app_state(self) -> None:
        self.assertEqual(load(self.tmp, None).app_state_bytes, b"")
        self.assertEqual(load(self.tmp, "null").app_state_bytes, b"null")
        self.assertEqual(load(self.tmp, '"x\\"y"').app_state_bytes, b'"x\\"y"')

    def test_handshake_of_a_fresh_node_sends_cometbfts_init_chain(self) -> None:
        genesis = load(self.tmp, ODD_APP_STATE)
        block_store = BlockStore.open(self.tmp / "data" / "blockstore.db")
        state_store = StateStore.open(self.tmp / "data" / "state.db")
        self.addCleanup(block_store.close)
        self.addCleanup(state_store.close)
        app = RecordingApp()
        state = self.successResultOf(Handshaker(state_store, block_store, genesis, app).handshake())

        (request,) = app.init_chain_requests
        self.assertEqual(request.chain_id, "localnet-4v")
        self.assertEqual(request.initial_height, 1)  # "0" in genesis.json means 1
        self.assertEqual(request.app_state_bytes, ODD_APP_STATE.encode("utf-8"))
        self.assertEqual(request.time.seconds, genesis.genesis_time.to_proto().seconds)
        self.assertEqual(request.consensus_params, genesis.consensus_params.to_proto())
        expected_validators = [(v.pub_key, v.voting_power) for v in genesis.validator_set().validators]
        self.assertEqual([(v.pub_key.ed25519, v.power) for v in request.validators], expected_validators)
        # The kvstore's 8-byte hash of nothing becomes the state's app hash; app version comes from Info.
        self.assertEqual((state.app_hash, state.app_version, state.last_block_height), (bytes(8), 1, 0))
        saved = state_store.load()
        assert saved is not None
        self.assertEqual(saved.to_bytes(), state.to_bytes())
