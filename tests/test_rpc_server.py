"""The RPC and metrics servers over real TCP on 127.0.0.1, and `cometsync status` as a real subprocess."""

from __future__ import annotations

import io
import json
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

from twisted.internet import defer, protocol, reactor, utils
from twisted.internet.task import deferLater
from twisted.web.client import Agent, FileBodyProducer, HTTPConnectionPool, readBody
from twisted.web.http_headers import Headers

from cometsync.blocksync.metrics import SyncMetrics
from cometsync.mempool import Mempool
from cometsync.metrics import BlocksyncMetrics, listen_metrics
from cometsync.pool import CaughtUp, PeerStatus, PoolStatus
from cometsync.rpc import BlocksyncView, SyncProgress, listen_rpc
from tests.rpc_fixtures import LOCALNET, LocalnetStoreCase, load_json, make_env

CLI = [sys.executable, "-c", "from cometsync.cli.main import main; main()"]


class SyncingPool:
    """A pool 40 blocks further along on every status call (the test's stand-in for a running sync)."""

    def __init__(self) -> None:
        self.height = 100

    def status(self) -> PoolStatus:
        self.height += 40
        return PoolStatus(
            True,
            self.height,
            1,
            310,
            4,
            2,
            3,
            4096,
            1 << 28,
            1024,
            (PeerStatus("b" * 40, 1, 310, 3, 2048.0, 8.0, 60),),
            (),
        )

    def is_caught_up(self) -> CaughtUp:
        return CaughtUp(False, f"height {self.height} behind max peer height 310")


class RPCServerTest(LocalnetStoreCase):
    def setUp(self) -> None:
        self.env = make_env(self.store, clock=reactor)
        self.env.blocksync = BlocksyncView(SyncingPool(), SyncProgress())
        port = listen_rpc("tcp://127.0.0.1:0", self.env)
        self.addCleanup(port.stopListening)
        self.url = f"http://127.0.0.1:{port.getHost().port}"
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(self.pool.closeCachedConnections)
        self.agent = Agent(reactor, pool=self.pool)

    @defer.inlineCallbacks
    def http(self, path: str, body: bytes | None = None) -> Iterator[Any]:
        producer = FileBodyProducer(io.BytesIO(body)) if body is not None else None
        headers = Headers({b"content-type": [b"application/json"]})
        response = yield self.agent.request(
            b"POST" if body is not None else b"GET", (self.url + path).encode(), headers, producer
        )
        content = yield readBody(response)
        return response.code, response.headers.getRawHeaders(b"content-type", [b""])[0], content

    @defer.inlineCallbacks
    def test_uri_get_block_equals_cometbft(self) -> Iterator[Any]:
        code, ctype, content = yield self.http("/block?height=62")
        self.assertEqual((code, ctype), (200, b"application/json"))
        answer = json.loads(content)
        self.assertEqual(answer["id"], -1)
        self.assertEqual(answer["result"], load_json(LOCALNET / "rpc_block" / "62.json"))
        code, _, content = yield self.http('/commit?height="310"')
        self.assertEqual(json.loads(content)["result"], load_json(LOCALNET / "rpc_commit" / "310.json"))

    @defer.inlineCallbacks
    def test_uri_errors(self) -> Iterator[Any]:
        code, _, content = yield self.http("/block?height=0")
        self.assertEqual(code, 500)
        self.assertEqual(
            json.loads(content)["error"],
            {"code": -32603, "message": "Internal error", "data": "height must be greater than 0, but got 0"},
        )
        code, _, content = yield self.http("/block?height=abc")
        self.assertEqual((code, json.loads(content)["error"]["code"]), (500, -32602))
        code, _, content = yield self.http("/no_such_method")
        self.assertEqual((code, content), (404, b"404 page not found\n"))
        code, ctype, content = yield self.http("/")
        self.assertEqual((code, ctype), (200, b"text/html"))
        self.assertIn(b"/blocksync_status", content)

    @defer.inlineCallbacks
    def test_json_rpc_post_single_batch_and_errors(self) -> Iterator[Any]:
        request = {"jsonrpc": "2.0", "id": "abc", "method": "block", "params": {"height": "62"}}
        code, _, content = yield self.http("/", json.dumps(request).encode())
        answer = json.loads(content)
        self.assertEqual((code, answer["id"], answer["jsonrpc"]), (200, "abc", "2.0"))
        self.assertEqual(answer["result"], load_json(LOCALNET / "rpc_block" / "62.json"))
        batch = [
            {"jsonrpc": "2.0", "id": 1, "method": "health"},
            {"jsonrpc": "2.0", "id": 2, "method": "nope"},
            {"jsonrpc": "2.0", "id": 3, "method": "blockchain", "params": ["1", "2"]},
            {"jsonrpc": "2.0", "method": "health"},
            {"jsonrpc": "2.0", "id": 4, "method": "block", "params": {"height": "x"}},
            {"jsonrpc": "2.0", "id": 5, "method": "broadcast_tx_sync", "params": {"tx": "az1i"}},
        ]
        code, _, content = yield self.http("/", json.dumps(batch).encode())
        answers = json.loads(content)
        self.assertEqual([a["id"] for a in answers], [1, 2, 3, 4, 5])
        self.assertEqual(answers[0]["result"], {})
        self.assertEqual(answers[1]["error"], {"code": -32601, "message": "Method not found"})
        self.assertEqual(len(answers[2]["result"]["block_metas"]), 2)
        self.assertEqual(answers[3]["error"]["code"], -32602)
        self.assertEqual(answers[4]["result"]["code"], 0)
        assert isinstance(self.env.mempool, Mempool)
        self.assertEqual(self.env.mempool.txs(), [b"k=b"])
        again = {"jsonrpc": "2.0", "id": 6, "method": "broadcast_tx_sync", "params": {"tx": "az1i"}}
        code, _, content = yield self.http("/", json.dumps(again).encode())
        self.assertEqual(
            json.loads(content)["error"],
            {"code": -32603, "message": "Internal error", "data": "tx already exists in cache"},
        )
        code, _, content = yield self.http("/", b"{not json")
        self.assertEqual((code, json.loads(content)["error"]["code"]), (500, -32700))

    @defer.inlineCallbacks
    def test_blocksync_status_over_http(self) -> Iterator[Any]:
        _, _, content = yield self.http("/blocksync_status")
        result = json.loads(content)["result"]
        self.assertEqual(result["max_peer_height"], "310")
        self.assertFalse(result["caught_up"])
        self.assertEqual(result["peers"][0]["address"], "127.0.0.1:26666")

    @defer.inlineCallbacks
    def test_metrics_scrape(self) -> Iterator[Any]:
        counters = SyncMetrics(syncing=True)
        counters.record_block(310, 3, 1500)
        counters.verify_seconds.observe(0.002)
        counters.apply_seconds.observe(0.01)
        counters.peer_bans += 1
        metrics = BlocksyncMetrics("localnet-4v", counters, reactor, pool=SyncingPool())
        port = listen_metrics("127.0.0.1:0", metrics)
        self.addCleanup(port.stopListening)
        url = f"http://127.0.0.1:{port.getHost().port}"
        response = yield self.agent.request(b"GET", (url + "/metrics").encode())
        text = (yield readBody(response)).decode()
        self.assertEqual(response.code, 200)
        for line in (
            'cometbft_blocksync_syncing{chain_id="localnet-4v"} 1.0',
            'cometbft_blocksync_num_txs{chain_id="localnet-4v"} 3.0',
            'cometbft_blocksync_total_txs{chain_id="localnet-4v"} 3.0',
            'cometbft_blocksync_block_size_bytes{chain_id="localnet-4v"} 1500.0',
            'cometbft_blocksync_latest_block_height{chain_id="localnet-4v"} 310.0',
            'cometsync_blocksync_blocks_synced_total{chain_id="localnet-4v"} 1.0',
            'cometsync_blocksync_max_peer_height{chain_id="localnet-4v"} 310.0',
            'cometsync_blocksync_pool_height{chain_id="localnet-4v"} 140.0',
            'cometsync_blocksync_peers{chain_id="localnet-4v"} 1.0',
            'cometsync_blocksync_peer_bans_total{chain_id="localnet-4v"} 1.0',
            'cometsync_blocksync_verify_seconds_count{chain_id="localnet-4v"} 1.0',
            'cometsync_blocksync_apply_seconds_count{chain_id="localnet-4v"} 1.0',
        ):
            self.assertIn(line, text.splitlines())
        response = yield self.agent.request(b"GET", (url + "/other").encode())
        yield readBody(response)
        self.assertEqual(response.code, 404)

    @defer.inlineCallbacks
    def test_status_cli_json_and_table(self) -> Iterator[Any]:
        out, err, code = yield utils.getProcessOutputAndValue(
            CLI[0], [*CLI[1:], "status", "--rpc", self.url, "--json"], env=os.environ
        )
        self.assertEqual(code, 0, err)
        snapshot = json.loads(out)
        self.assertEqual(snapshot["status"]["sync_info"]["latest_block_height"], "310")
        self.assertEqual(snapshot["blocksync"]["max_peer_height"], "310")
        out, err, code = yield utils.getProcessOutputAndValue(
            CLI[0], [*CLI[1:], "status", "--rpc", self.url.replace("http://", "tcp://")], env=os.environ
        )
        self.assertEqual(code, 0, err)
        text = out.decode()
        self.assertIn("/ max peer height 310", text)
        self.assertIn("caught up  no (height", text)
        self.assertIn("b" * 40 + "  127.0.0.1:26666", text)

    @defer.inlineCallbacks
    def test_status_cli_watch_refreshes_until_sigint(self) -> Iterator[Any]:
        collector = _Collector()
        args = [*CLI, "status", "--rpc", self.url, "--watch", "--interval", "0.2"]
        process = reactor.spawnProcess(collector, CLI[0], args, env=os.environ)
        for _ in range(100):
            if collector.output.count(b"pool       height") >= 2:
                break
            yield deferLater(reactor, 0.1, lambda: None)
        process.signalProcess(signal.SIGINT)
        code = yield collector.ended
        self.assertEqual(code, 0, collector.errors)
        self.assertGreaterEqual(collector.output.count(b"pool       height"), 2)
        self.assertNotIn(b"Traceback", collector.errors)

    @defer.inlineCallbacks
    def test_status_cli_unreachable_rpc(self) -> Iterator[Any]:
        server = yield reactor.listenTCP(0, protocol.Factory(), interface="127.0.0.1")
        free_port = server.getHost().port
        yield server.stopListening()
        _, err, code = yield utils.getProcessOutputAndValue(
            CLI[0], [*CLI[1:], "status", "--rpc", f"http://127.0.0.1:{free_port}"], env=os.environ
        )
        self.assertEqual(code, 1)
        self.assertEqual(len(err.decode().strip().splitlines()), 1)
        self.assertIn(f"error: cannot reach the RPC at http://127.0.0.1:{free_port}", err.decode())


class _Collector(protocol.ProcessProtocol):
    def __init__(self) -> None:
        self.output = b""
        self.errors = b""
        self.ended: defer.Deferred[int] = defer.Deferred()

    def outReceived(self, data: bytes) -> None:
        self.output += data

    def errReceived(self, data: bytes) -> None:
        self.errors += data

    def processEnded(self, reason: Any) -> None:
        self.ended.callback(reason.value.exitCode)
