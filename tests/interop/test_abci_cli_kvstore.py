"""cometsync's ABCI clients against CometBFT's `abci-cli kvstore` (env ABCI_CLI), over the socket protocol
(TCP and unix) and gRPC: the same requests give the same answers and app hashes as our kvstore; and
`cometsync start` syncs a chain from a cometsync producer into abci-cli's kvstore over the socket protocol.
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from abci_cli import abci_cli_bin, spawn_kvstore, stop
from abci_process import start_kvstore, temp_home
from node_cli import free_port, producer_and_follower, reached, rpc, spawn_cli, stop_process, wait_for
from twisted.internet import defer
from twisted.trial import unittest

from cometsync.abci.connect import open_connections
from cometsync.config import load_config, save_config
from cometsync.crypto import load_node_key
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.proto.tendermint.crypto import keys_pb2
from cometsync.state.handshake import info_request

PUB_KEY = bytes(range(32))
VAL_TX = b"val=ed25519!" + base64.b64encode(PUB_KEY) + b"!7"
BLOCKS = [[b"a=1", b"b=2"], [], [VAL_TX, b"c=4"], [b"a=3"]]
SYNC_HEIGHT = 40


async def session(address: str, transport: str) -> list[Any]:
    """The answers of one app to a fixed session of calls on the node's four connections."""
    conns = await open_connections(address, transport, connect_budget=20.0)
    try:
        validator = abci_pb2.ValidatorUpdate(pub_key=keys_pb2.PublicKey(ed25519=bytes(32)), power=10)
        answers: list[Any] = [await conns.info(info_request())]
        answers.append(
            await conns.init_chain(abci_pb2.RequestInitChain(chain_id="c", validators=[validator]))
        )
        answers.append(await conns.check_tx(abci_pb2.RequestCheckTx(tx=b"k=v")))
        answers.append(await conns.check_tx(abci_pb2.RequestCheckTx(tx=b"k=v=w")))
        proposal = abci_pb2.RequestPrepareProposal(txs=[b"k:v", VAL_TX], max_tx_bytes=1000)
        answers.append(await conns.prepare_proposal(proposal))
        for height, txs in enumerate(BLOCKS, start=1):
            answers.append(await conns.finalize_block(abci_pb2.RequestFinalizeBlock(height=height, txs=txs)))
            answers.append(await conns.commit(abci_pb2.RequestCommit()))
        answers.append(await conns.query(abci_pb2.RequestQuery(data=b"a")))
        answers.append(await conns.query(abci_pb2.RequestQuery(path="/val", data=PUB_KEY)))
        answers.append(await conns.info(info_request()))
        return answers
    finally:
        conns.close()


class ConformanceTest(unittest.TestCase):
    """The same session against abci-cli and against our kvstore, each served over the same transport."""

    timeout = 120

    def test_socket_over_tcp(self) -> defer.Deferred[None]:
        return self.compare("socket", f"tcp://127.0.0.1:{free_port()}")

    def test_socket_over_unix(self) -> defer.Deferred[None]:
        return self.compare("socket", f"unix://{temp_home(self.addCleanup) / 'app.sock'}")

    def test_grpc(self) -> defer.Deferred[None]:
        return self.compare("grpc", f"tcp://127.0.0.1:{free_port()}")

    @defer.inlineCallbacks
    def compare(self, transport: str, address: str) -> Generator[defer.Deferred[Any], Any, None]:
        binary = abci_cli_bin()
        work = temp_home(self.addCleanup)
        theirs = spawn_kvstore(binary, address, transport, work / "theirs", work / "abci-cli.log")
        self.addCleanup(stop, theirs)
        ours = start_kvstore(work / "ours", transport=transport)
        self.addCleanup(ours.kill)
        dial = f"grpc://{address.removeprefix('tcp://')}" if transport == "grpc" else address
        their_answers = yield defer.ensureDeferred(session(dial, transport))
        our_address = f"grpc://{ours.address}" if transport == "grpc" else ours.address
        our_answers = yield defer.ensureDeferred(session(our_address, transport))
        self.assertEqual(their_answers[-1].last_block_height, len(BLOCKS))
        for index, (their, our) in enumerate(zip(their_answers, our_answers, strict=True)):
            if isinstance(their, abci_pb2.ResponseInfo):
                self.assertEqual(their.last_block_height, our.last_block_height, index)
                self.assertEqual(their.last_block_app_hash, our.last_block_app_hash, index)
            elif isinstance(their, abci_pb2.ResponseFinalizeBlock):
                self.assertEqual(their.app_hash, our.app_hash, index)
                self.assertEqual([r.code for r in their.tx_results], [r.code for r in our.tx_results], index)
                self.assertEqual(list(their.validator_updates), list(our.validator_updates), index)
            else:
                self.assertEqual(their, our, index)


@pytest.fixture
def producer(tmp_path: Path) -> Iterator[tuple[Path, int, str]]:
    """A running solo producer (built-in kvstore) with txs in its chain, past SYNC_HEIGHT."""
    abci_cli_bin()
    producer_home, follower_home, base = producer_and_follower(tmp_path, "30ms")
    node = spawn_cli(["start", "--home", str(producer_home)], tmp_path / "producer.log")
    try:
        wait_for(lambda: reached(base + 1, 2), 90, "the producer's first blocks")
        for n in range(10):
            tx = urllib.parse.quote(f'"key{n}=value{n}"')
            assert rpc(base + 1, f"broadcast_tx_sync?tx={tx}", timeout=30) is not None
        wait_for(lambda: reached(base + 1, SYNC_HEIGHT + 1), 120, f"the producer at {SYNC_HEIGHT + 1}")
        peer = f"{load_node_key(producer_home / 'config' / 'node_key.json').node_id}@127.0.0.1:{base}"
        yield follower_home, base + 1, peer
    finally:
        assert stop_process(node) == 0


def test_cometsync_start_syncs_into_abci_cli_kvstore(tmp_path: Path, producer: tuple[Path, int, str]) -> None:
    binary = abci_cli_bin()
    follower_home, producer_rpc, peer = producer
    address = f"tcp://127.0.0.1:{free_port()}"
    app = spawn_kvstore(binary, address, "socket", tmp_path / "abci-cli", tmp_path / "abci-cli.log")
    config = load_config(follower_home)
    config.override("proxy_app", address)
    config.override("abci", "socket")
    save_config(config)
    follower_rpc = config.rpc.laddr.rsplit(":", 1)[1]
    follower = spawn_cli(
        ["start", "--home", str(follower_home), "--p2p.persistent_peers", peer], tmp_path / "f.log"
    )
    try:
        wait_for(lambda: reached(int(follower_rpc), SYNC_HEIGHT), 120, f"the follower at {SYNC_HEIGHT}")
        info = wait_for(lambda: rpc(int(follower_rpc), "abci_info"), 30, "the follower's abci_info")
    finally:
        assert stop_process(follower) == 0
        stop(app)
    response = info["response"]
    height = int(response["last_block_height"])
    assert height >= SYNC_HEIGHT
    header = rpc(producer_rpc, f"block?height={height + 1}")["block"]["header"]
    assert base64.b64decode(response["last_block_app_hash"]).hex().upper() == header["app_hash"]
    assert response["data"] != '{"size":0}'  # the txs reached CometBFT's app
