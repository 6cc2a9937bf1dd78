"""The channel's own answer to a plain keep-alive `GET /status` or `/health` (no twisted.web Request):
which requests take it (sans-IO), and over a real listener on 127.0.0.1 that it answers as the full path
does, keeps the idle timeout and the serving budget, and leaves every other request to the full path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from twisted.internet import defer
from twisted.internet.task import Clock

from cometsync.rpc import listen_rpc
from cometsync.rpc.limits import ServingBudget
from cometsync.rpc.plain_get import MAX_HEADERS, plain_get_method
from tests.rpc_fixtures import RawClientCase, RawHTTP, http_request, make_env

LIMIT = 64 * 1024


def plain(path: str, *headers: str) -> bytes:
    """A GET as pollers send it: no body, no length, no `Connection` header."""
    return "".join([f"GET {path} HTTP/1.1\r\n", *(f"{h}\r\n" for h in headers), "\r\n"]).encode()


@pytest.mark.parametrize(
    ("request_bytes", "method"),
    [
        (plain("/status", "Host: 127.0.0.1"), "status"),
        (plain("/health", "Host: x", "User-Agent: curl/8.5", "Accept: */*"), "health"),
        (plain("/blocksync_status"), "blocksync_status"),
    ],
)
def test_plain_gets_are_recognised(request_bytes: bytes, method: str) -> None:
    assert plain_get_method(request_bytes, LIMIT) == method


@pytest.mark.parametrize(
    "request_bytes",
    [
        plain("/status?x=1"),
        plain("/"),
        plain("/Status"),
        b"GET /status HTTP/1.0\r\n\r\n",
        b"HEAD /status HTTP/1.1\r\n\r\n",
        b"POST /status HTTP/1.1\r\n\r\n",
        plain("/status", "Content-Length: 0"),
        plain("/status", "transfer-encoding: chunked"),
        plain("/status", "Connection: close"),
        plain("/status", "Expect: 100-continue"),
        plain("/status", "Upgrade: websocket"),
        plain("/status") + plain("/health"),  # pipelined
        plain("/status")[:-2],  # incomplete
        b"GET /status HTTP/1.1\r\nHost: x\n\r\n",  # a bare LF
        b"GET /status HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",  # a continuation line
        plain("/status", "No colon"),
        plain("/status", "Bad name: x"),
        plain("/status", *["X-A: 1"] * (MAX_HEADERS + 1)),
        plain("/status", "X-Long: " + "a" * LIMIT),
    ],
)
def test_anything_else_is_left_to_the_full_parser(request_bytes: bytes) -> None:
    assert plain_get_method(request_bytes, LIMIT) is None


class PlainGetTest(RawClientCase):
    """A listener whose site runs on a `Clock` (idle timeouts fire when the test says)."""

    def listen(self, budget_active: bool = False, share: float = 1.0, **env: Any) -> Clock:
        clock = Clock()
        budget = ServingBudget(lambda: budget_active, clock, share=share, burst_seconds=0.0)
        listener = listen_rpc("tcp://127.0.0.1:0", make_env(self.store, **env), budget=budget)
        self.addCleanup(listener.stopListening)
        self.port = listener.getHost().port
        return clock

    @defer.inlineCallbacks
    def exchange(self, client: RawHTTP, request_bytes: bytes) -> Iterator[Any]:
        answered = client.next_response()
        client.send(request_bytes)
        response = yield answered
        return response

    @defer.inlineCallbacks
    def test_answers_as_the_full_path_on_one_connection(self) -> Iterator[Any]:
        self.listen()
        client = yield self.connect()
        for path in ("/status", "/health", "/status"):
            code, headers, body = yield self.exchange(client, plain(path))
            full_code, full_headers, full_body = yield self.exchange(client, http_request("GET", path))
            self.assertEqual((code, body), (full_code, full_body))
            self.assertEqual(headers[b"content-type"], full_headers[b"content-type"])
            self.assertIn(b"date", headers)
            self.assertNotIn(b"server", headers)  # no twisted.web Request wrote this answer
            self.assertIn(b"server", full_headers)
        self.assertEqual(json.loads(body)["result"]["sync_info"]["latest_block_height"], "310")

    @defer.inlineCallbacks
    def test_a_failing_handler_is_the_same_json_rpc_error(self) -> Iterator[Any]:
        self.listen(failure=lambda: "blocksync stopped: app hash mismatch at 311")
        client = yield self.connect()
        code, headers, body = yield self.exchange(client, plain("/health"))
        self.assertNotIn(b"server", headers)
        full = yield self.exchange(client, http_request("GET", "/health"))
        self.assertEqual((code, body), (full[0], full[2]))
        self.assertEqual(code, 500)
        self.assertEqual(json.loads(body)["error"]["data"], "blocksync stopped: app hash mismatch at 311")

    @defer.inlineCallbacks
    def test_other_requests_keep_the_full_path(self) -> Iterator[Any]:
        self.listen()
        client = yield self.connect()
        both = [client.next_response(), client.next_response()]
        client.send(plain("/status") + plain("/health"))  # pipelined in one write
        answers = yield defer.gatherResults(both)
        self.assertEqual([code for code, _, _ in answers], [200, 200])
        self.assertEqual(json.loads(answers[1][2])["result"], {})
        code, headers, _ = yield self.exchange(client, plain("/nonsense"))
        self.assertEqual((code, headers[b"content-type"]), (404, b"text/plain; charset=utf-8"))
        code, _, _ = yield self.exchange(client, plain("/status", "Connection: close"))
        self.assertEqual(code, 200)
        yield client.closed

    @defer.inlineCallbacks
    def test_the_idle_timeout_counts_from_the_last_plain_request(self) -> Iterator[Any]:
        clock = self.listen()
        client = yield self.connect()
        for _ in range(2):
            clock.advance(9)  # 18 s after connecting on the second turn: served only if 9 s reset it
            answered = client.next_response()
            client.send(plain("/status"))
            _, first = yield defer.DeferredList([answered, client.closed], fireOnOneCallback=True)
            self.assertEqual(first, 0, "the connection was closed instead of answered")
        clock.advance(11)
        yield client.closed

    @defer.inlineCallbacks
    def test_an_overspending_poller_waits_for_the_budget(self) -> Iterator[Any]:
        clock = self.listen(budget_active=True, share=1e-6)
        poller = yield self.connect()
        code, _, _ = yield self.exchange(poller, plain("/status"))
        self.assertEqual(code, 200)
        waiting = poller.next_response()
        poller.send(plain("/status"))
        other = yield self.connect()
        code, _, _ = yield self.exchange(other, plain("/health"))  # sent after the waiting request
        self.assertEqual(code, 200)
        self.assertFalse(waiting.called)
        clock.advance(10**9)
        code, _, _ = yield waiting
        self.assertEqual(code, 200)
