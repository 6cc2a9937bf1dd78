"""Helpers for the RPC tests: a real LevelDB block store of the localnet chain, an in-process kvstore app."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import plyvel
from twisted.internet import defer, protocol
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.task import Clock
from twisted.trial import unittest

from cometsync.abci.kvstore.app import KVStoreApp
from cometsync.abci.kvstore.store import MemoryStorage
from cometsync.mempool import Mempool
from cometsync.p2p.node_info import NodeInfo
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.rpc import RPCEnvironment
from cometsync.store import BlockStore, StoreError
from cometsync.types import ValidatorSet
from tests.state_fixtures import DATA, LOCALNET, LOCALNET_CHAIN

TM_RS = DATA / "tendermint-rs" / "kvstore_v0_38" / "incoming"


class LocalnetStoreCase(unittest.TestCase):
    """A trial case whose tests share one LevelDB block store of the localnet chain (in a temp dir)."""

    timeout = 60
    store: ClassVar[BlockStore]

    @classmethod
    def setUpClass(cls) -> None:
        cls._tmp = tempfile.TemporaryDirectory()
        cls.store = localnet_store(Path(cls._tmp.name) / "blockstore.db")

    @classmethod
    def tearDownClass(cls) -> None:
        cls.store.close()
        cls._tmp.cleanup()


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())


def localnet_store(path: Path) -> BlockStore:
    db = plyvel.DB(str(path), create_if_missing=True)
    LOCALNET_CHAIN.write_go_layout(db)
    db.close()
    return BlockStore.open(path)


class RecordedValidators:
    """`load_validators` answered from the node's recorded `/validators` output (1..310)."""

    def load_validators(self, height: int) -> ValidatorSet:
        path = LOCALNET / "validators" / f"{height}.json"
        if not path.exists():
            raise StoreError(f"no validator set stored for height {height}")
        return ValidatorSet.from_rpc_json(load_json(path))


class InProcessABCI:
    """The real kvstore application answering through Deferreds, like the gRPC client does."""

    def __init__(self) -> None:
        self.app = KVStoreApp(MemoryStorage())

    def info(self, request: abci_pb2.RequestInfo) -> defer.Deferred[abci_pb2.ResponseInfo]:
        return defer.succeed(self.app.info(request))

    def check_tx(self, request: abci_pb2.RequestCheckTx) -> defer.Deferred[abci_pb2.ResponseCheckTx]:
        return defer.succeed(self.app.check_tx(request))


@dataclass
class FakePeer:
    node_info: NodeInfo
    remote_address: tuple[str, int]
    is_outbound: bool = True


def node_info(node_id: str = "a" * 40, network: str = "localnet-4v") -> NodeInfo:
    return NodeInfo(
        node_id=node_id,
        listen_addr="tcp://0.0.0.0:26656",
        network=network,
        channels=bytes([0x40, 0x20, 0x21, 0x22, 0x23, 0x30, 0x38, 0x60, 0x61, 0x00]),
        moniker="node0",
        rpc_address="tcp://127.0.0.1:26657",
    )


def make_env(store: BlockStore, **overrides: Any) -> RPCEnvironment:
    """The RPC over `store`, the in-process kvstore and a real `Mempool` on that app."""
    peers = [FakePeer(node_info("b" * 40), ("127.0.0.1", 26666))]
    abci = overrides.pop("abci", InProcessABCI())
    settings: dict[str, Any] = {
        "block_store": store,
        "state_store": RecordedValidators(),
        "node_info": node_info,
        "peers": lambda: peers,
        "catching_up": lambda: False,
        "abci": abci,
        "clock": Clock(),
        "mempool": Mempool(abci),
    }
    settings.update(overrides)
    return RPCEnvironment(**settings)


class CountingDB:
    """A real plyvel DB that counts its reads: how a test sees what a handler costs in store reads."""

    def __init__(self, db: plyvel.DB) -> None:
        self.db = db
        self.gets = 0

    def get(self, key: bytes, *args: Any, **options: Any) -> bytes | None:
        self.gets += 1
        value: bytes | None = self.db.get(key, *args, **options)
        return value

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


Response = tuple[int, dict[bytes, bytes], bytes]
"""HTTP status, lower-cased headers, body."""


class RawHTTP(protocol.Protocol):
    """A client writing bytes exactly as the test gives them; collects answers and notices the close."""

    def __init__(self) -> None:
        self.received = b""
        self.closed: defer.Deferred[bytes] = defer.Deferred()
        self._asked = 0
        self._pending: dict[int, defer.Deferred[Response]] = {}

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def next_response(self) -> defer.Deferred[Response]:
        """The next answer on this connection (the first call: the first answer, and so on)."""
        answer: defer.Deferred[Response] = defer.Deferred()
        self._pending[self._asked] = answer
        self._asked += 1
        self._deliver()
        return answer

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        self._deliver()

    def connectionLost(self, reason: Any = None) -> None:
        self.closed.callback(self.received)

    def _responses(self) -> list[Response]:
        found, rest = [], self.received
        while b"\r\n\r\n" in rest:
            head, rest = rest.split(b"\r\n\r\n", 1)
            status_line, *lines = head.split(b"\r\n")
            headers = {k.strip().lower(): v.strip() for k, v in (line.split(b":", 1) for line in lines)}
            length = int(headers.get(b"content-length", b"0"))
            if len(rest) < length:
                break
            found.append((int(status_line.split()[1]), headers, rest[:length]))
            rest = rest[length:]
        return found

    def _deliver(self) -> None:
        responses = self._responses()
        for index in sorted(self._pending):
            if index < len(responses):
                self._pending.pop(index).callback(responses[index])


def connect_raw(port: int) -> defer.Deferred[RawHTTP]:
    from twisted.internet import reactor

    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port)
    connected: defer.Deferred[RawHTTP] = connectProtocol(endpoint, RawHTTP())
    return connected


class RawClientCase(LocalnetStoreCase):
    """A case talking raw HTTP to the listener on `self.port`; clients still open are closed at cleanup."""

    port: int

    @defer.inlineCallbacks
    def connect(self) -> Iterator[Any]:
        client: RawHTTP = yield connect_raw(self.port)
        self.addCleanup(lambda: client.closed if client.transport.disconnecting else self._close(client))
        return client

    @staticmethod
    def _close(client: RawHTTP) -> defer.Deferred[bytes]:
        client.transport.loseConnection()
        return client.closed


def http_request(
    method: str, path: str, body: bytes = b"", *, declared_length: int | None = None, chunked: bool = False
) -> bytes:
    """One HTTP/1.1 request; `declared_length` claims a Content-Length other than the body's, `chunked`
    sends no length (the caller writes the chunks)."""
    length = len(body) if declared_length is None else declared_length
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}"
    return f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{framing}\r\n\r\n".encode() + body
