"""Real CometBFT v0.38.25 chains replayed through our kvstore subprocess via our gRPC client.

localnet-4v ran CometBFT's own kvstore: every app hash, every LastResultsHash, every deterministic tx
result and the validator update of block 152 must come out identical. voteext-4v ran CometBFT's e2e app
(its app hash is its own state hash, not kvstore's), so there only results and LastResultsHash compare.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Generator
from pathlib import Path
from typing import Any

from abci_process import start_kvstore, temp_home
from twisted.internet import defer
from twisted.trial import unittest

from cometsync.abci.connect import open_connections
from cometsync.abci.kvstore.app import go_put_varint
from cometsync.crypto.ed25519 import address_of
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.proto.tendermint.crypto import keys_pb2
from cometsync.proto.tendermint.types import block_pb2, types_pb2
from cometsync.types.results import DeterministicTxResult, results_hash
from cometsync.types.timestamp import Timestamp

DATA = Path(__file__).resolve().parent / "data"
Powers = dict[bytes, tuple[keys_pb2.PublicKey, int]]


class Chain:
    """One fixture chain read from tests/data (raw blocks, block metas, RPC block_results, genesis)."""

    def __init__(self, folder: str) -> None:
        self.root = DATA / folder
        self.genesis = json.loads((self.root / "genesis.json").read_text())
        self.height = len(list((self.root / "blocks").glob("*.pb")))

    def block(self, height: int) -> block_pb2.Block:
        return block_pb2.Block.FromString((self.root / "blocks" / f"{height}.pb").read_bytes())

    def block_hash(self, height: int) -> bytes:
        meta = types_pb2.BlockMeta.FromString((self.root / "blockmetas" / f"{height}.pb").read_bytes())
        hash_: bytes = meta.block_id.hash
        return hash_

    def recorded_results(self, height: int) -> dict[str, Any]:
        path = self.root / "block_results" / f"{height}.json"
        return json.loads(path.read_text()) if path.exists() else {"txs_results": None}

    def init_chain_request(self) -> abci_pb2.RequestInitChain:
        validators = [
            abci_pb2.ValidatorUpdate(
                pub_key=keys_pb2.PublicKey(ed25519=base64.b64decode(v["pub_key"]["value"])),
                power=int(v["power"]),
            )
            for v in self.genesis["validators"]
        ]
        return abci_pb2.RequestInitChain(
            time=Timestamp.parse(self.genesis["genesis_time"]).to_proto(),
            chain_id=self.genesis["chain_id"],
            validators=validators,
            initial_height=max(1, int(self.genesis["initial_height"])),
        )


def ordered_votes(validators: Powers, last_commit: types_pb2.Commit) -> list[abci_pb2.VoteInfo]:
    """VoteInfos as CometBFT builds them: signature i is validator i's (power desc, then address asc)."""
    order = sorted(validators.items(), key=lambda item: (-item[1][1], item[0]))
    assert len(order) == len(last_commit.signatures)
    return [
        abci_pb2.VoteInfo(
            validator=abci_pb2.Validator(address=address, power=power), block_id_flag=sig.block_id_flag
        )
        for (address, (_, power)), sig in zip(order, last_commit.signatures, strict=True)
    ]


def applied(validators: Powers, updates: list[abci_pb2.ValidatorUpdate]) -> Powers:
    after = dict(validators)
    for update in updates:
        address = address_of(update.pub_key.ed25519)
        if update.power == 0:
            after.pop(address, None)
        else:
            after[address] = (update.pub_key, update.power)
    return after


def recorded_updates(recorded: dict[str, Any]) -> list[tuple[bytes, int]]:
    return [
        (base64.b64decode(u["pub_key"]["Sum"]["value"]["ed25519"]), int(u["power"]))
        for u in recorded.get("validator_updates") or []
    ]


class ReplayTest(unittest.TestCase):
    """Over gRPC; `SocketReplayTest` runs the same over the socket protocol."""

    timeout = 240
    transport = "grpc"

    @defer.inlineCallbacks
    def replay(self, chain: Chain, app_hashes_match: bool) -> Generator[defer.Deferred[Any], Any, int]:
        app = start_kvstore(temp_home(self.addCleanup), transport=self.transport)
        self.addCleanup(app.kill)
        client = yield defer.ensureDeferred(open_connections(app.address, self.transport))
        self.addCleanup(client.close)

        init = yield client.init_chain(chain.init_chain_request())
        if app_hashes_match:
            self.assertEqual(init.app_hash, chain.block(1).header.app_hash)
        genesis: Powers = {
            address_of(v.pub_key.ed25519): (v.pub_key, v.power) for v in chain.init_chain_request().validators
        }
        validator_sets = {1: genesis, 2: genesis}  # updates from block h apply to the set of h + 2
        txs_total, next_block = 0, chain.block(1)
        for height in range(1, chain.height + 1):
            block, next_block = next_block, (chain.block(height + 1) if height < chain.height else None)
            header = block.header
            votes = ordered_votes(validator_sets[height - 1], block.last_commit) if height > 1 else []
            response = yield client.finalize_block(
                abci_pb2.RequestFinalizeBlock(
                    txs=block.data.txs,
                    decided_last_commit=abci_pb2.CommitInfo(round=block.last_commit.round, votes=votes),
                    hash=chain.block_hash(height),
                    height=height,
                    time=header.time,
                    next_validators_hash=header.next_validators_hash,
                    proposer_address=header.proposer_address,
                )
            )
            yield client.commit(abci_pb2.RequestCommit())
            txs_total += len(block.data.txs)
            self.assertEqual(response.app_hash, go_put_varint(txs_total))

            recorded = chain.recorded_results(height)
            ours = [DeterministicTxResult.from_abci(r) for r in response.tx_results]
            expected = [DeterministicTxResult.from_rpc_json(r) for r in recorded["txs_results"] or []]
            self.assertEqual(ours, expected)
            self.assertEqual(
                [(u.pub_key.ed25519, u.power) for u in response.validator_updates], recorded_updates(recorded)
            )
            validator_sets[height + 2] = applied(validator_sets[height + 1], list(response.validator_updates))
            if next_block is not None:
                self.assertEqual(results_hash(ours), next_block.header.last_results_hash, f"height {height}")
                if app_hashes_match:
                    self.assertEqual(response.app_hash, next_block.header.app_hash, f"height {height}")
        info = yield client.info(abci_pb2.RequestInfo())
        self.assertEqual(info.last_block_height, chain.height)
        self.assertEqual(info.last_block_app_hash, go_put_varint(txs_total))
        return txs_total

    @defer.inlineCallbacks
    def test_localnet_chain_matches_cometbft_kvstore(self) -> Generator[defer.Deferred[Any], Any, None]:
        txs = yield self.replay(Chain("cometbft-v0.38.25-localnet"), app_hashes_match=True)
        self.assertEqual(txs, 195)

    @defer.inlineCallbacks
    def test_voteext_chain_results_match(self) -> Generator[defer.Deferred[Any], Any, None]:
        txs = yield self.replay(Chain("cometbft-v0.38.25-voteext"), app_hashes_match=False)
        self.assertEqual(txs, 52)


class SocketReplayTest(ReplayTest):
    transport = "socket"
