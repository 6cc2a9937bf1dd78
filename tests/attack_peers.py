"""Hostile peers for the attack tests and benchmarks: a real SecretConnection + MConnection client that
dials a node and then misbehaves on the blocksync channel as its `Behaviour` says."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer, protocol, task
from twisted.internet import reactor as global_reactor

from cometsync.blocksync.codec import (
    BLOCKSYNC_CHANNEL,
    BlockRequest,
    StatusRequest,
    StatusResponse,
    decode,
    encode,
    encode_block_response,
)
from cometsync.blocksync.reactor import blocksync_channel
from cometsync.crypto import PrivKey
from cometsync.p2p.handshake import PeerHandshake
from cometsync.p2p.mconnection import MConnection
from cometsync.p2p.node_info import NodeInfo
from cometsync.proto.tendermint.types import block_pb2
from cometsync.proto.wire import uvarint
from cometsync.store import BlockStore


class AttackPeer(protocol.Protocol):
    """Handshakes like a node on `network`, then hands every blocksync message to `on_message`."""

    def __init__(self, seed: int, network: str, server_id: str, behaviour: Behaviour) -> None:
        self.key = PrivKey(bytes([seed]) * 32)
        info = NodeInfo(self.node_id, "tcp://127.0.0.1:1", network, bytes([BLOCKSYNC_CHANNEL]), "attacker")
        self.handshake = PeerHandshake(self.key, info, dialed_id=server_id)
        self.behaviour = behaviour
        self.mconn: MConnection | None = None
        self.ready: defer.Deferred[None] = defer.Deferred()
        self.lost: defer.Deferred[None] = defer.Deferred()

    @property
    def node_id(self) -> str:
        return self.key.pub_key.address().hex()

    def connectionMade(self) -> None:
        self.transport.write(self.handshake.data_to_send())

    def dataReceived(self, data: bytes) -> None:
        if self.mconn is not None:
            self.mconn.receive(self.handshake.secret.receive(data))
            return
        result = self.handshake.receive(data)
        self.transport.write(self.handshake.data_to_send())
        if result is None:
            return
        self.mconn = MConnection(
            global_reactor, self, [blocksync_channel()], self._on_message, lambda reason: None
        )
        self.mconn.start()
        self.ready.callback(None)
        self.behaviour.connected(self)
        if result.leftover:
            self.mconn.receive(result.leftover)

    def _on_message(self, channel_id: int, msg_bytes: bytes) -> None:
        self.behaviour.message(self, decode(msg_bytes))

    def send(self, msg_bytes: bytes) -> None:
        assert self.mconn is not None
        self.mconn.send(BLOCKSYNC_CHANNEL, msg_bytes)

    # MConnTransport
    def write(self, data: bytes) -> None:
        self.handshake.secret.write(data)
        self.transport.write(self.handshake.secret.data_to_send())

    def pause_reading(self) -> None:
        self.transport.pauseProducing()

    def resume_reading(self) -> None:
        self.transport.resumeProducing()

    def connectionLost(self, reason: Any = None) -> None:
        if self.mconn is not None:
            self.mconn.stop()
        self.behaviour.stop()
        self.lost.callback(None)


class Behaviour:
    """Answers StatusRequests claiming `store`'s range; subclasses misbehave."""

    def __init__(self, store: BlockStore) -> None:
        self.store = store

    def connected(self, peer: AttackPeer) -> None:
        peer.send(encode(StatusResponse(self.store.height, 1)))

    def message(self, peer: AttackPeer, message: object) -> None:
        if isinstance(message, StatusRequest):
            peer.send(encode(StatusResponse(self.store.height, 1)))
        elif isinstance(message, BlockRequest):
            self.block_request(peer, message.height)

    def block_request(self, peer: AttackPeer, height: int) -> None:
        """Never answers (a peer holding requests hostage)."""

    def stop(self) -> None:
        """The connection is gone."""


class Flood(Behaviour):
    """Never serves what it is asked; sends real blocks nobody asked for: stale, ahead and far away."""

    def __init__(self, store: BlockStore, per_tick: int = 20) -> None:
        super().__init__(store)
        self.per_tick = per_tick
        self.sent = 0
        self._loop: task.LoopingCall | None = None

    def connected(self, peer: AttackPeer) -> None:
        super().connected(peer)
        self._loop = task.LoopingCall(self._flood, peer)
        self._loop.start(0.01)

    def _flood(self, peer: AttackPeer) -> None:
        tip = self.store.height
        for i in range(self.per_tick):
            height = (1, tip, (self.sent * 7919) % tip + 1)[i % 3]
            block_bytes = self.store.load_block_bytes(height)
            assert block_bytes is not None
            peer.send(encode_block_response(block_bytes))
            self.sent += 1

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()


class TxBomb(Behaviour):
    """Answers each request with the real block plus `extra_txs` empty transactions."""

    def __init__(self, store: BlockStore, extra_txs: int) -> None:
        super().__init__(store)
        self.extra_txs = extra_txs
        self.bombs = 0

    def block_request(self, peer: AttackPeer, height: int) -> None:
        block_bytes = self.store.load_block_bytes(height)
        assert block_bytes is not None
        block = block_pb2.Block.FromString(block_bytes)
        block.data.txs.extend([b""] * self.extra_txs)
        peer.send(encode_block_response(bytes(block.SerializeToString())))
        self.bombs += 1


class Padded(Behaviour):
    """Sends a StatusResponse padded with an unknown field of `size` bytes (an oversized small message)."""

    def __init__(self, store: BlockStore, size: int) -> None:
        super().__init__(store)
        self.size = size

    def connected(self, peer: AttackPeer) -> None:
        status = encode(StatusResponse(self.store.height, 1))
        inner = status[2:] + b"\x7a" + uvarint(self.size) + bytes(self.size)  # field 15, length-delimited
        peer.send(b"\x2a" + uvarint(len(inner)) + inner)


def connect_attacker(port: int, peer: AttackPeer, bind_host: str = "127.0.0.1") -> defer.Deferred[AttackPeer]:
    """Dial the node on 127.0.0.1:`port` from `bind_host` (another loopback address models another IP)."""
    creator = protocol.ClientCreator(global_reactor, lambda: peer)
    d: defer.Deferred[Any] = creator.connectTCP("127.0.0.1", port, bindAddress=(bind_host, 0))
    return d.addCallback(lambda _: peer)
