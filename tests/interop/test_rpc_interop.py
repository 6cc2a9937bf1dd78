"""The same malformed and over-limit requests to a real CometBFT v0.38 node and to a cometsync node: the
same HTTP status, JSON-RPC error code and envelope keys (the Go error texts are not compared)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from cometbft import cometbft_bin, configure, init_home, spawn
from node_cli import free_port, reached, spawn_cli, stop_process, wait_for

from cometsync.config import free_starting_port, make_testnet

CASES: list[tuple[str, str | bytes, bytes]] = [
    ("POST", "/", b"{not json"),
    ("POST", "/", b"[" * 20_000),
    ("POST", "/", b'{"jsonrpc":"2.0","id":1,"method":"health","x":NaN}'),
    ("POST", "/", b'{"jsonrpc":"2.0","id":true,"method":"health"}'),
    ("POST", "/", b'{"jsonrpc":"2.0","id":1,"method":5}'),
    ("POST", "/", b'[{"jsonrpc":"2.0","id":1,"method":"health"}, 5]'),
    ("POST", "/", b'"status"'),
    ("POST", "/", b"   "),
    ("POST", "/", b"null"),
    ("POST", "/", b"[]"),
    ("POST", "/", b'{"jsonrpc":"2.0","id":1.7,"method":"health"}'),
    ("POST", "/", b'[{"jsonrpc":"2.0","method":"health"},{"jsonrpc":"2.0","id":9,"method":"health"}]'),
    ("POST", "/", json.dumps([{"jsonrpc": "2.0", "id": i, "method": "health"} for i in range(10)]).encode()),
    ("POST", "/", json.dumps([{"jsonrpc": "2.0", "id": i, "method": "health"} for i in range(11)]).encode()),
    ("POST", "/", b'{"jsonrpc":"2.0","id":3,"method":"block","params":{"height":"9999999999999999999999"}}'),
    ("POST", "/", b'{"jsonrpc":"2.0","id":3,"method":"block","params":["1","2"]}'),
    ("POST", "/", b'{"jsonrpc":"2.0","id":"x","method":"nope"}'),
    ("POST", "/", b" " * 1_000_001),
    ("GET", "/block?height=99999999999999999999999", b""),
    ("GET", b"/block?height=" + b"9" * 10_000, b""),
    ("GET", "/block?height=abc", b""),
    ("GET", "/block?height=-1", b""),
    ("GET", "/block?height=9223372036854775807", b""),
    ("GET", "/validators?height=9223372036854775807", b""),
    ("GET", "/nope", b""),
]


def ask(port: int, method: str, path: str | bytes, body: bytes) -> tuple[int, object]:
    """One request on a fresh connection: the HTTP status and the answer's shape."""
    target = path.encode() if isinstance(path, str) else path
    head = b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head % (method.encode(), target, len(body)) + body)
        received = b""
        while chunk := sock.recv(1 << 16):
            received += chunk
    head_bytes, _, content = received.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head_bytes.lower():
        content = _unchunked(content)
    return int(head_bytes.split()[1]), _shape(content)


def _unchunked(data: bytes) -> bytes:
    body = b""
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return body
        body, data = body + data[:size], data[size + 2 :]


def _shape(content: bytes) -> object:
    """Envelope keys, id and error code (not the Go error text); a list of those for an array."""
    try:
        answer = json.loads(content)
    except ValueError:
        return content
    if isinstance(answer, list):
        return [_shape(json.dumps(item).encode()) for item in answer]
    error = answer.get("error")
    return (sorted(answer), answer.get("id"), error["code"] if error else None)


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """A one-validator CometBFT node (built-in kvstore) and a one-validator cometsync node, both making
    blocks; yields their RPC ports."""
    binary = cometbft_bin()
    cmt_home = tmp_path / "cometbft"
    init_home(binary, cmt_home)
    cmt_rpc = free_port()
    configure(cmt_home, p2p_port=free_port(), rpc_port=cmt_rpc, proxy_app='"kvstore"')
    ours = make_testnet(tmp_path / "cometsync", 1, starting_port=free_starting_port(1))[0]
    processes = [
        spawn(binary, cmt_home, tmp_path / "cometbft.log"),
        spawn_cli(["start", "--home", str(ours.config.home)], tmp_path / "cometsync.log"),
    ]
    try:
        wait_for(lambda: reached(cmt_rpc, 2), 60, "CometBFT at height 2")
        wait_for(lambda: reached(ours.ports.rpc, 2), 60, "cometsync at height 2")
        yield ours.ports.rpc, cmt_rpc
    finally:
        codes = [stop_process(process) for process in processes]
    assert codes[1] == 0, (tmp_path / "cometsync.log").read_text()[-3000:]
    assert "Traceback" not in (tmp_path / "cometsync.log").read_text()


def test_malformed_and_over_limit_requests_get_cometbfts_answers(nodes: tuple[int, int]) -> None:
    ours, theirs = nodes
    for method, path, body in CASES:
        shown = f"{method} {path[:40]!r} {body[:40]!r}"
        assert ask(ours, method, path, body) == ask(theirs, method, path, body), shown


def ask_polling(port: int, paths: list[str]) -> list[tuple[int, bytes, object, object]]:
    """Plain keep-alive GETs (no body, no length, no `Connection`) on one connection, as pollers send
    them: each answer's status, content type, envelope shape and result keys."""
    answers = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        received = b""
        for path in paths:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            while b"\r\n\r\n" not in received:
                received += sock.recv(1 << 16)
            head, _, received = received.partition(b"\r\n\r\n")
            headers = dict(line.lower().split(b": ", 1) for line in head.split(b"\r\n")[1:])
            length = int(headers[b"content-length"])
            while len(received) < length:
                received += sock.recv(1 << 16)
            content, received = received[:length], received[length:]
            result = json.loads(content).get("result")
            keys = sorted(result) if isinstance(result, dict) else result
            answers.append((int(head.split()[1]), headers[b"content-type"], _shape(content), keys))
    return answers


def test_polling_keep_alive_gets_get_cometbfts_answers(nodes: tuple[int, int]) -> None:
    ours, theirs = nodes
    paths = ["/status", "/health", "/status", "/health"]
    assert ask_polling(ours, paths) == ask_polling(theirs, paths)
