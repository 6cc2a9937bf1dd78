"""A table damaged while the node runs: peers get NoBlockResponse and RPC clients a JSON-RPC error, never a
traceback or a disconnect; the store counts the failures and logs the first one only."""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from blocksync_fixtures import LOCALNET_CHAIN, Network, Node, make_reactor, start_clock
from test_store_safety import corrupt_tables
from twisted.internet import defer, reactor
from twisted.trial import unittest
from twisted.web.client import Agent, HTTPConnectionPool, readBody

from cometsync.blocksync.codec import BLOCKSYNC_CHANNEL, BlockRequest, NoBlockResponse, decode, encode
from cometsync.rpc import listen_rpc
from tests.rpc_fixtures import make_env

SERVED = 40


def damaged_node(home: Path) -> Node:
    """A node holding blocks 1..SERVED whose block store tables are then corrupted on disk."""
    node = Node(home, LOCALNET_CHAIN)
    node.apply_chain(SERVED)
    node.block_store.database.flush()
    corrupt_tables(home / "blockstore.db", truncate=False)
    return node


def test_a_peer_asking_for_a_damaged_block_gets_no_block_and_stays(tmp_path: Path) -> None:
    server = damaged_node(tmp_path / "server")
    client = Node(tmp_path / "client", LOCALNET_CHAIN)
    clock = start_clock(LOCALNET_CHAIN)
    serving, _ = make_reactor(server, clock)
    asking, _ = make_reactor(client, clock)
    network = Network(clock)
    network.connect(serving, "server", asking, "client")
    to_server = next(link for link in network.links if link.local_id == "client")
    from_server = next(link for link in network.links if link.local_id == "server")
    try:
        for height in (3, 4, 5):
            to_server.send(BLOCKSYNC_CHANNEL, encode(BlockRequest(height)))
        clock.advance(0)
        answers = [decode(message) for message in from_server.sent]
        assert [a for a in answers if isinstance(a, NoBlockResponse)] == [
            NoBlockResponse(h) for h in (3, 4, 5)
        ]
        assert network.disconnects == []
        assert server.block_store.database.failures >= 3
    finally:
        server.close()
        client.close()


class RPCOverDamagedStoreTest(unittest.TestCase):
    timeout = 60

    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.node = damaged_node(Path(self._tmp.name))
        port = listen_rpc("tcp://127.0.0.1:0", make_env(self.node.block_store, clock=reactor))
        self.url = f"http://127.0.0.1:{port.getHost().port}"
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.agent = Agent(reactor, pool=pool)
        self.addCleanup(self._tmp.cleanup)
        self.addCleanup(self.node.close)
        self.addCleanup(port.stopListening)
        self.addCleanup(pool.closeCachedConnections)

    @defer.inlineCallbacks
    def test_block_over_a_damaged_store_is_a_json_rpc_error_without_traceback(self) -> Iterator[Any]:
        records: list[logging.LogRecord] = []
        handler = logging.Handler()
        handler.emit = records.append  # type: ignore[method-assign]
        logging.getLogger("cometsync").addHandler(handler)
        self.addCleanup(logging.getLogger("cometsync").removeHandler, handler)
        for height in (7, 8):
            response = yield self.agent.request(b"GET", f"{self.url}/block?height={height}".encode())
            body = json.loads((yield readBody(response)))
            self.assertEqual(response.code, 500)
            self.assertEqual(body["error"]["code"], -32603)
            self.assertIn("blockstore.db", body["error"]["data"])
            self.assertNotIn("Traceback", body["error"]["data"])
        messages = [record.getMessage() for record in records]
        self.assertEqual(len(messages), 1, messages)
        self.assertIn("counted, not logged", messages[0])
        self.assertNotIn("Traceback", messages[0])
