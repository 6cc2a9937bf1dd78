"""CometBFT's `[rpc]` limits and malformed requests over a real RPC listener on 127.0.0.1, raw HTTP bytes."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import plyvel
from twisted.internet import defer, threads
from twisted.internet.task import Clock

from cometsync.rpc import RPCLimits, RPCListener, listen_rpc
from cometsync.rpc.limits import ServingBudget
from cometsync.store import BlockStore, keys
from cometsync.types import Block
from tests.rpc_fixtures import (
    LOCALNET,
    RawClientCase,
    RawHTTP,
    http_request,
    load_json,
    localnet_store,
    make_env,
)

TOO_LARGE = {
    "jsonrpc": "2.0",
    "error": {
        "code": -32600,
        "message": "Invalid Request",
        "data": "error reading request body: http: request body too large",
    },
}


def health_call(request_id: int) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "health"}


class ListenerTest(RawClientCase):
    """A listener over the localnet store with `limits`; `ask` sends one request on a fresh connection."""

    limits = RPCLimits()

    def listen(self, block_store: Any = None, budget: ServingBudget | None = None) -> RPCListener:
        from twisted.internet import reactor

        env = make_env(block_store or self.store, clock=reactor)
        listener = listen_rpc("tcp://127.0.0.1:0", env, limits=self.limits, budget=budget)
        self.addCleanup(listener.stopListening)
        self.port = listener.getHost().port
        return listener

    @defer.inlineCallbacks
    def ask(self, method: str, path: str, body: bytes = b"") -> Iterator[Any]:
        client = yield self.connect()
        client.send(http_request(method, path, body))
        status, headers, content = yield client.next_response()
        return status, headers, content

    @defer.inlineCallbacks
    def post(self, body: bytes) -> Iterator[Any]:
        status, _, content = yield self.ask("POST", "/", body)
        return status, json.loads(content) if content else None


class BodyAndBatchLimitTest(ListenerTest):
    limits = RPCLimits(max_body_bytes=1000, max_request_batch_size=3, max_open_connections=0)

    def setUp(self) -> None:
        self.listen()

    @defer.inlineCallbacks
    def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(self) -> Iterator[Any]:
        client = yield self.connect()
        client.send(http_request("POST", "/", declared_length=1001))
        received = yield client.closed  # the server answers and closes without waiting for the body
        head, _, body = received.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 400 "), head)
        self.assertEqual(json.loads(body), TOO_LARGE)

    @defer.inlineCallbacks
    def test_chunks_passing_the_limit_are_refused_at_once(self) -> Iterator[Any]:
        client = yield self.connect()
        client.send(http_request("POST", "/", chunked=True))
        chunk = b" " * 600
        client.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        client.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))  # 1200 > 1000; no final chunk is ever sent
        received = yield client.closed
        head, _, body = received.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 400 "), head)
        self.assertEqual(json.loads(body), TOO_LARGE)

    @defer.inlineCallbacks
    def test_a_body_of_exactly_the_limit_is_served(self) -> Iterator[Any]:
        call = json.dumps(health_call(7)).encode()
        status, answer = yield self.post(call.ljust(1000))
        self.assertEqual((status, answer), (200, {"jsonrpc": "2.0", "id": 7, "result": {}}))
        status, answer = yield self.post(call.ljust(1001))
        self.assertEqual((status, answer), (400, TOO_LARGE))

    @defer.inlineCallbacks
    def test_batch_size_limit(self) -> Iterator[Any]:
        status, answers = yield self.post(json.dumps([health_call(i) for i in range(3)]).encode())
        self.assertEqual((status, [a["id"] for a in answers]), (200, [0, 1, 2]))
        status, answer = yield self.post(json.dumps([health_call(i) for i in range(4)]).encode())
        self.assertEqual(status, 200)
        self.assertEqual(
            answer,
            {
                "jsonrpc": "2.0",
                "error": {
                    "code": -32600,
                    "message": "Invalid Request",
                    "data": "batch request exceeds maximum (3) allowed number of requests",
                },
            },
        )

    @defer.inlineCallbacks
    def test_a_batch_with_one_answer_gets_an_object_as_from_cometbft(self) -> Iterator[Any]:
        notification = {"jsonrpc": "2.0", "method": "health"}
        status, answer = yield self.post(json.dumps([notification, health_call(9)]).encode())
        self.assertEqual((status, answer), (200, {"jsonrpc": "2.0", "id": 9, "result": {}}))
        status, answer = yield self.post(b"[]")
        self.assertEqual((status, answer), (200, None))


class MalformedRequestTest(ListenerTest):
    """Default limits: up to 1 MB of whatever a client may send; every answer a JSON-RPC error object."""

    def setUp(self) -> None:
        self.listen()

    @defer.inlineCallbacks
    def assert_parse_error(self, body: bytes, detail: str) -> Iterator[Any]:
        status, answer = yield self.post(body)
        self.assertEqual(status, 500, body[:60])
        self.assertEqual(answer["error"]["code"], -32700, body[:60])
        self.assertEqual(answer["error"]["message"], "Parse error. Invalid JSON")
        self.assertIn(detail, answer["error"]["data"])
        self.assertNotIn("id", answer)

    @defer.inlineCallbacks
    def test_undecodable_bodies_are_parse_errors(self) -> Iterator[Any]:
        yield self.assert_parse_error(b"{not json", "error unmarshaling request")
        yield self.assert_parse_error(b"[" * 500_000, "nested too deeply")
        yield self.assert_parse_error(b'{"a":' * 100_000, "nested too deeply")
        yield self.assert_parse_error(b'{"jsonrpc":"2.0","id":1,"method":"health","x":NaN}', "NaN")
        yield self.assert_parse_error(b'{"id":' + b"9" * 5000 + b"}", "digits")
        yield self.assert_parse_error(b"\xff\xfe\xfd", "error unmarshaling request")
        yield self.assert_parse_error(b"   ", "error unmarshaling request")

    @defer.inlineCallbacks
    def test_a_malformed_entry_fails_the_whole_body_as_in_cometbft(self) -> Iterator[Any]:
        yield self.assert_parse_error(b'{"jsonrpc":"2.0","id":true,"method":"health"}', "json-rpc ID")
        yield self.assert_parse_error(b'{"jsonrpc":"2.0","id":[1],"method":"health"}', "json-rpc ID")
        yield self.assert_parse_error(b'{"jsonrpc":"2.0","id":1,"method":5}', "method must be a string")
        yield self.assert_parse_error(b'{"jsonrpc":2,"id":1,"method":"health"}', "jsonrpc must be a string")
        yield self.assert_parse_error(b'[{"jsonrpc":"2.0","id":1,"method":"health"}, 5]', "JSON object")
        yield self.assert_parse_error(b'"status"', "JSON object")

    @defer.inlineCallbacks
    def test_ids_and_notifications(self) -> Iterator[Any]:
        status, answer = yield self.post(b'{"jsonrpc":"2.0","id":1.7,"method":"health"}')
        self.assertEqual((status, answer), (200, {"jsonrpc": "2.0", "id": 1, "result": {}}))
        status, answer = yield self.post(b"null")
        self.assertEqual((status, answer), (200, None))
        status, answer = yield self.post(b'{"jsonrpc":"2.0","id":"x","method":"nope"}')
        self.assertEqual(
            answer, {"jsonrpc": "2.0", "id": "x", "error": {"code": -32601, "message": "Method not found"}}
        )

    @defer.inlineCallbacks
    def test_huge_and_malformed_heights(self) -> Iterator[Any]:
        for path, code, detail in (
            ("/block?height=99999999999999999999999", -32602, "does not fit in int64"),
            ("/block?height=" + "9" * 60_000, -32602, "does not fit in int64"),
            ("/block?height=" + "[" * 60_000, -32602, "cannot decode"),
            ("/block?height=1e400", -32602, "expected an integer"),
            ("/block?height=-1", -32603, "height must be greater than 0, but got -1"),
            ("/block?height=9223372036854775807", -32603, "must be less than or equal to the current"),
        ):
            status, _, content = yield self.ask("GET", path)
            answer = json.loads(content)
            self.assertEqual((status, answer["id"], answer["error"]["code"]), (500, -1, code), path[:40])
            self.assertIn(detail, answer["error"]["data"])
            self.assertLess(len(content), 1000, "the error does not echo the client's megabyte")
        status, _, content = yield self.ask("GET", "/block?height=abc")
        self.assertTrue(json.loads(content)["error"]["data"].startswith("error converting http params"))
        call = {"jsonrpc": "2.0", "id": 3, "method": "block", "params": {"height": "9" * 30}}
        status, answer = yield self.post(json.dumps(call).encode())
        self.assertEqual((status, answer["error"]["code"]), (200, -32602))
        self.assertIn("error converting json params to arguments: height: ", answer["error"]["data"])

    @defer.inlineCallbacks
    def test_a_request_line_over_64_kib_is_refused_and_closed(self) -> Iterator[Any]:
        client = yield self.connect()
        client.send(http_request("GET", "/block?height=" + "9" * 70_000))
        received = yield client.closed
        self.assertTrue(received.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), received)


class DamagedStoreTest(ListenerTest):
    """A block whose stored meta is garbage: its readers get the store's error as -32603, others are fine."""

    @defer.inlineCallbacks
    def test_a_corrupt_meta_is_an_internal_error_naming_the_key(self) -> Iterator[Any]:
        folder = Path(tempfile.mkdtemp(prefix="rpc-damaged-"))
        self.addCleanup(shutil.rmtree, folder, True)
        localnet_store(folder / "blockstore.db").close()
        db = plyvel.DB(str(folder / "blockstore.db"))
        db.put(keys.block_meta_key(62), b"\xff not a meta")
        db.close()
        damaged = BlockStore.open(folder / "blockstore.db")
        self.addCleanup(damaged.close)
        self.listen(damaged)
        with self.assertLogs("cometsync", "WARNING") as logged:  # once, by the store (counted there)
            status, _, content = yield self.ask("GET", "/block?height=62")
        error = json.loads(content)["error"]
        self.assertEqual((status, error["code"]), (500, -32603))
        self.assertIn("cannot decode a block meta stored under 'H:62'", error["data"])
        self.assertNotIn("Traceback", "\n".join(logged.output))
        status, _, _ = yield self.ask("GET", "/block?height=61")
        self.assertEqual(status, 200)


class OpenConnectionLimitTest(ListenerTest):
    limits = RPCLimits(max_open_connections=2)

    def setUp(self) -> None:
        self.listener = self.listen()

    @defer.inlineCallbacks
    def served_health(self, client: RawHTTP) -> Iterator[Any]:
        client.send(http_request("GET", "/health"))
        status, _, content = yield client.next_response()
        self.assertEqual((status, json.loads(content)["result"]), (200, {}))

    @defer.inlineCallbacks
    def test_a_third_connection_waits_until_one_closes(self) -> Iterator[Any]:
        first = yield self.connect()
        second = yield self.connect()
        yield self.served_health(first)
        yield self.served_health(second)
        third = yield self.connect()  # completed by the kernel's backlog; the server does not accept it
        answered = third.next_response()
        third.send(http_request("GET", "/health"))
        yield self.served_health(second)  # a round trip after the third client's request was sent
        self.assertFalse(answered.called)
        self.assertEqual(self.listener.gate.served, 2)
        first.transport.loseConnection()
        yield first.closed
        status, _, _ = yield answered
        self.assertEqual(status, 200)
        self.assertEqual(self.listener.gate.served, 2)


class ServingBudgetTest(ListenerTest):
    """A node catching up with a budget so small that any request overspends it: the client that spent
    waits, unread and not timed out, until the budget's clock has refilled it; other clients are still
    read meanwhile."""

    @defer.inlineCallbacks
    def test_an_overspending_client_waits_for_the_budget(self) -> Iterator[Any]:
        clock = Clock()  # also the site's clock: its 10 s idle timeouts only fire when the test says
        self.listen(budget=ServingBudget(lambda: True, clock, share=1e-6, burst_seconds=0.0))
        first = yield self.connect()
        first.send(http_request("GET", "/health"))
        status, _, _ = yield first.next_response()
        self.assertEqual(status, 200)
        waiting = first.next_response()
        first.send(http_request("GET", "/health"))
        status, _, _ = yield self.ask("GET", "/health")  # another client, sent after the waiting request
        self.assertEqual(status, 200)
        self.assertFalse(waiting.called)
        clock.advance(11)  # past the idle timeout, not yet the budget's wait (any charge / 1e-6 > 11 s)
        self.assertFalse(waiting.called or first.closed.called)
        clock.advance(10**9)
        status, _, _ = yield waiting
        self.assertEqual(status, 200)


class OffReactorThreadTest(ListenerTest):
    """A store read stalls in `/block`; the reactor keeps answering other requests meanwhile."""

    @defer.inlineCallbacks
    def test_a_stalled_block_read_does_not_block_the_reactor(self) -> Iterator[Any]:
        stalled = StalledReads(self.store)
        self.listen(stalled)
        blocked = yield self.connect()
        block_answer = blocked.next_response()
        blocked.send(http_request("GET", "/block?height=62"))
        entered = yield threads.deferToThread(stalled.entered.wait, 10)  # the worker is in load_block
        self.assertTrue(entered)
        status, _, content = yield self.ask("GET", "/status")
        self.assertEqual(
            (status, json.loads(content)["result"]["sync_info"]["latest_block_height"]), (200, "310")
        )
        self.assertFalse(block_answer.called)
        stalled.release.set()
        status, _, content = yield block_answer
        self.assertEqual(json.loads(content)["result"], load_json(LOCALNET / "rpc_block" / "62.json"))
        self.assertNotEqual(stalled.reader_thread, threading.get_ident())


class StalledReads:
    """The real block store, whose `load_block` waits for the test's go-ahead (and notes its thread)."""

    def __init__(self, store: BlockStore) -> None:
        self._store = store
        self.entered = threading.Event()
        self.release = threading.Event()
        self.reader_thread = 0

    def load_block(self, height: int) -> Block | None:
        self.reader_thread = threading.get_ident()
        self.entered.set()
        self.release.wait(30)
        return self._store.load_block(height)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)
