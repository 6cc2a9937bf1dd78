"""Hostile peers for the attack tests and benchmarks/attack_bench.py: a real SecretConnection + MConnection
end (dialing a node, or accepting its dial) that then misbehaves on the blocksync channel as its
`Behaviour` says."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from twisted.internet import defer, protocol, task
from twisted.internet import reactor as global_reactor

from cometsync.blocksync.codec import (
    BLOCKSYNC_CHANNEL,
    BlockRequest,
    NoBlockResponse,
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
from cometsync.p2p.transport import TCPTransport
from cometsync.proto.wire import iter_fields, message_field, uvarint
from cometsync.store import BlockStore

_DATA = 2  # Block.data


class AttackPeer(protocol.Protocol):
    """Handshakes like a node on `network`, then hands every blocksync message to `on_message`."""

    def __init__(self, seed: int, network: str, server_id: str | None, behaviour: Behaviour) -> None:
        """`server_id`: the node we dial (None when it dials us)."""
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

    @property
    def _tcp(self) -> TCPTransport:
        return cast(TCPTransport, self.transport)

    def connectionMade(self) -> None:
        self._tcp.write(self.handshake.data_to_send())

    def dataReceived(self, data: bytes) -> None:
        if self.mconn is not None:
            self.mconn.receive(self.handshake.secret.receive(data))
            return
        result = self.handshake.receive(data)
        self._tcp.write(self.handshake.data_to_send())
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
        self._tcp.write(self.handshake.secret.data_to_send())

    def pause_reading(self) -> None:
        self._tcp.pauseProducing()

    def resume_reading(self) -> None:
        self._tcp.resumeProducing()

    def connectionLost(self, reason: Any = None) -> None:
        if self.mconn is not None:
            self.mconn.stop()
        self.behaviour.stop()
        self.lost.callback(None)


class Behaviour:
    """Answers StatusRequests claiming `store`'s range; subclasses misbehave."""

    def __init__(self, store: BlockStore) -> None:
        self.store = store

    def status(self) -> StatusResponse:
        """The range this peer claims."""
        return StatusResponse(self.store.height, 1)

    def connected(self, peer: AttackPeer) -> None:
        peer.send(encode(self.status()))

    def message(self, peer: AttackPeer, message: object) -> None:
        if isinstance(message, StatusRequest):
            peer.send(encode(self.status()))
        elif isinstance(message, BlockRequest):
            self.block_request(peer, message.height)

    def block_request(self, peer: AttackPeer, height: int) -> None:
        """Never answers (a peer holding requests hostage)."""

    def serve(self, peer: AttackPeer, height: int) -> None:
        """Answers like an honest node: the stored block and, if stored, its extended commit."""
        block_bytes = self.store.load_block_bytes(height)
        if block_bytes is None:
            peer.send(encode(NoBlockResponse(height)))
            return
        peer.send(encode_block_response(block_bytes, self.store.load_extended_commit_bytes(height)))

    def stop(self) -> None:
        """The connection is gone."""


class _Ticking(Behaviour):
    """Sends `per_tick` messages every 10 ms from its connection until it is gone (`burst`)."""

    def __init__(self, store: BlockStore, per_tick: int) -> None:
        super().__init__(store)
        self.per_tick = per_tick
        self.sent = 0
        self._loop: task.LoopingCall | None = None

    def connected(self, peer: AttackPeer) -> None:
        super().connected(peer)
        self._loop = task.LoopingCall(self.burst, peer)
        self._loop.start(0.01)

    def burst(self, peer: AttackPeer) -> None:
        """One tick's messages."""

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()


class Flood(_Ticking):
    """Never serves what it is asked; sends real blocks nobody asked for: stale, ahead and far away."""

    def __init__(self, store: BlockStore, per_tick: int = 20) -> None:
        super().__init__(store, per_tick)

    def burst(self, peer: AttackPeer) -> None:
        tip = self.store.height
        for i in range(self.per_tick):
            height = (1, tip, (self.sent * 7919) % tip + 1)[i % 3]
            block_bytes = self.store.load_block_bytes(height)
            assert block_bytes is not None
            peer.send(encode_block_response(block_bytes))
            self.sent += 1


class RequestFlood(_Ticking):
    """Claims the range but never serves; asks for every stored height over and over and stops reading,
    so the answers pile up on the victim's side (a peer that requests faster than it reads)."""

    def __init__(self, store: BlockStore, per_tick: int = 200) -> None:
        super().__init__(store, per_tick)

    def connected(self, peer: AttackPeer) -> None:
        peer.pause_reading()
        super().connected(peer)

    def burst(self, peer: AttackPeer) -> None:
        tip = self.store.height
        for _ in range(self.per_tick):
            peer.send(encode(BlockRequest(self.sent % tip + 1)))
            self.sent += 1


def with_extra_txs(block_bytes: bytes, txs: bytes) -> bytes:
    """`block_bytes` with encoded `txs` appended to its data: still canonical, no longer the header's data."""
    fields = []
    for field in iter_fields(block_bytes):
        payload = block_bytes[field.start : field.end]
        if field.number == _DATA:
            payload += txs
        fields.append(message_field(field.number, payload))
    return b"".join(fields)


class TxBomb(Behaviour):
    """Answers each request with the real block plus `extra_txs` empty txs (still one canonical message)."""

    def __init__(self, store: BlockStore, extra_txs: int) -> None:
        super().__init__(store)
        self.padding = b"\x0a\x00" * extra_txs
        self.bombs = 0

    def block_request(self, peer: AttackPeer, height: int) -> None:
        block_bytes = self.store.load_block_bytes(height)
        assert block_bytes is not None
        peer.send(encode_block_response(with_extra_txs(block_bytes, self.padding)))
        self.bombs += 1


class Corrupt(Behaviour):
    """Serves every block with one forged tx added (its data hash no longer matches), ext commit and all."""

    FORGED_TX = message_field(1, b"forged=1")

    def __init__(self, store: BlockStore) -> None:
        super().__init__(store)
        self.served = 0

    def block_request(self, peer: AttackPeer, height: int) -> None:
        block_bytes = self.store.load_block_bytes(height)
        assert block_bytes is not None
        forged = with_extra_txs(block_bytes, self.FORGED_TX)
        peer.send(encode_block_response(forged, self.store.load_extended_commit_bytes(height)))
        self.served += 1


class Liar(Behaviour):
    """Claims `claimed` (far above the tip); serves the real blocks below `refuse_from` and answers
    NoBlockResponse from there on (refuse_from=1: every request; the default: the real tip and above)."""

    def __init__(self, store: BlockStore, claimed: int = 10**9, refuse_from: int | None = None) -> None:
        super().__init__(store)
        self.claimed = claimed
        self.refuse_from = store.height if refuse_from is None else refuse_from
        self.refused = 0

    def status(self) -> StatusResponse:
        return StatusResponse(self.claimed, 1)

    def block_request(self, peer: AttackPeer, height: int) -> None:
        if height < self.refuse_from:
            self.serve(peer, height)
            return
        peer.send(encode(NoBlockResponse(height)))
        self.refused += 1


class Lowering(Behaviour):
    """Claims the tip and serves real blocks; after `serve_first` answers it lowers its claimed height."""

    def __init__(self, store: BlockStore, serve_first: int = 10) -> None:
        super().__init__(store)
        self.serve_first = serve_first
        self.served = 0

    def status(self) -> StatusResponse:
        if self.lowered:
            return StatusResponse(self.store.height // 2, 1)
        return super().status()

    @property
    def lowered(self) -> bool:
        return self.served >= self.serve_first

    def block_request(self, peer: AttackPeer, height: int) -> None:
        if self.lowered:
            return
        self.serve(peer, height)
        self.served += 1
        if self.lowered:
            peer.send(encode(self.status()))


class Oversized(Behaviour):
    """Answers its first request with a BlockResponse of `size` bytes (one block whose only tx is zeros)."""

    def __init__(self, store: BlockStore, size: int) -> None:
        super().__init__(store)
        self.size = size
        self.sent = False

    def block_request(self, peer: AttackPeer, height: int) -> None:
        if self.sent:
            return
        self.sent = True
        header = message_field(1, b"\x18" + uvarint(height))
        peer.send(encode_block_response(header + message_field(2, message_field(1, bytes(self.size)))))


class Padded(Behaviour):
    """Sends a StatusResponse padded with an unknown field of `size` bytes (an oversized small message)."""

    def __init__(self, store: BlockStore, size: int) -> None:
        super().__init__(store)
        self.size = size

    def connected(self, peer: AttackPeer) -> None:
        status = encode(self.status())
        inner = status[2:] + b"\x7a" + uvarint(self.size) + bytes(self.size)  # field 15, length-delimited
        peer.send(b"\x2a" + uvarint(len(inner)) + inner)


class _OneShotFactory(protocol.ClientFactory):
    def __init__(self, peer: AttackPeer) -> None:
        self.peer = peer

    def buildProtocol(self, addr: Any) -> AttackPeer:
        return self.peer


def connect_attacker(port: int, peer: AttackPeer, bind_host: str = "127.0.0.1") -> None:
    """Dial the node on 127.0.0.1:`port` from `bind_host` (another loopback address models another IP)."""
    reactor: Any = global_reactor
    reactor.connectTCP("127.0.0.1", port, _OneShotFactory(peer), bindAddress=(bind_host, 0))


class AttackerFactory(protocol.ServerFactory):
    """Accepts the node's dials: each connection is a fresh AttackPeer with the same key and behaviour."""

    def __init__(self, seed: int, network: str, make: Callable[[], Behaviour]) -> None:
        self.seed = seed
        self.network = network
        self.make = make

    def buildProtocol(self, addr: Any) -> AttackPeer:
        return AttackPeer(self.seed, self.network, None, self.make())
