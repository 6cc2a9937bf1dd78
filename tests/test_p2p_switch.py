"""Switch, peers and the Twisted glue over real TCP on 127.0.0.1: echo both ways (20 MiB too), bad input."""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from typing import Any

from twisted.internet import defer, protocol, reactor
from twisted.internet.task import deferLater
from twisted.trial import unittest

from cometsync.crypto import PrivKey
from cometsync.crypto.keyfiles import NodeKey
from cometsync.p2p.channel import ChannelDescriptor
from cometsync.p2p.delimited import delimit
from cometsync.p2p.handshake import PeerHandshake
from cometsync.p2p.mconnection import MConnConfig, encode_packet_msg
from cometsync.p2p.node_info import NodeInfo
from cometsync.p2p.peer import Peer
from cometsync.p2p.reactor import Reactor
from cometsync.p2p.secret_connection import encode_eph_pub_message, eph_public_key
from cometsync.p2p.switch import Switch, SwitchConfig
from cometsync.proto.wire import uvarint

ECHO = 0x7F
NETWORK = "echo-net"
FAST = MConnConfig(send_rate=500_000_000, recv_rate=500_000_000, ping_interval=2.0, pong_timeout=1.0)


class EchoReactor(Reactor):
    """Answers `ping:` messages with `pong:` and records everything else."""

    def __init__(self, capacity: int = 32 * 1024 * 1024) -> None:
        self.capacity = capacity
        self.received: list[tuple[str, bytes]] = []
        self.removed: list[tuple[str, str]] = []
        self.waiters: list[tuple[Callable[[], bool], defer.Deferred[None]]] = []

    def get_channels(self) -> list[ChannelDescriptor]:
        return [
            ChannelDescriptor(ECHO, priority=5, send_queue_capacity=10, recv_message_capacity=self.capacity)
        ]

    def receive(self, channel_id: int, peer: Peer, msg_bytes: bytes) -> None:
        if msg_bytes.startswith(b"ping:"):
            peer.send(channel_id, b"pong:" + msg_bytes[5:])
        else:
            self.received.append((peer.id, msg_bytes))
        self._check()

    def add_peer(self, peer: Peer) -> None:
        self._check()

    def remove_peer(self, peer: Peer, reason: str) -> None:
        self.removed.append((peer.id, reason))
        self._check()

    def when(self, condition: Callable[[], bool]) -> defer.Deferred[None]:
        d: defer.Deferred[None] = defer.Deferred()
        self.waiters.append((condition, d))
        self._check()
        return d

    def _check(self) -> None:
        for item in list(self.waiters):
            if item[0]():
                self.waiters.remove(item)
                item[1].callback(None)


def _switch(
    seed: int, config: SwitchConfig | None = None, capacity: int = 32 * 1024 * 1024
) -> tuple[Switch, EchoReactor]:
    switch = Switch(
        NodeKey(PrivKey(bytes([seed]) * 32)),
        NETWORK,
        moniker=f"n{seed}",
        config=config or SwitchConfig(mconn=FAST),
    )
    echo = EchoReactor(capacity)
    switch.add_reactor("echo", echo)
    return switch, echo


class ScriptedPeer(protocol.Protocol):
    """A hand-driven client: handshakes like a node, then `script` sends whatever bad input it wants."""

    def __init__(
        self, server_id: str, script: Callable[[ScriptedPeer], None] | None, raw: bytes = b""
    ) -> None:
        key = PrivKey(bytes([99]) * 32)
        info = NodeInfo(key.pub_key.address().hex(), "tcp://127.0.0.1:1", NETWORK, bytes([ECHO]), "scripted")
        self.handshake = PeerHandshake(key, info, dialed_id=server_id)
        self.script = script
        self.raw = raw
        self.lost: defer.Deferred[None] = defer.Deferred()

    def connectionMade(self) -> None:
        self.transport.write(self.raw or self.handshake.data_to_send())

    def dataReceived(self, data: bytes) -> None:
        if self.raw or self.handshake.result is not None:
            return
        result = self.handshake.receive(data)
        self.transport.write(self.handshake.data_to_send())
        if result is not None and self.script is not None:
            self.script(self)

    def send_sealed(self, plaintext: bytes) -> None:
        self.handshake.secret.write(plaintext)
        self.transport.write(self.handshake.secret.data_to_send())

    def connectionLost(self, reason: Any = None) -> None:
        self.lost.callback(None)


class LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


class SwitchTest(unittest.TestCase):
    timeout = 60

    def setUp(self) -> None:
        self.logs = LogCapture()
        logging.getLogger("cometsync.p2p").addHandler(self.logs)
        logging.getLogger("cometsync.p2p").setLevel(logging.INFO)
        self.addCleanup(logging.getLogger("cometsync.p2p").removeHandler, self.logs)

    def start(self, switch: Switch) -> int:
        port = switch.listen("127.0.0.1", 0)
        self.addCleanup(switch.stop)
        return port

    @defer.inlineCallbacks
    def test_two_nodes_echo_both_ways_including_20_mib(self) -> Generator[Any, Any, None]:
        a, echo_a = _switch(1)
        b, echo_b = _switch(2)
        port_b = self.start(b)
        self.start(a)
        a.dial_peers([f"{b.node_key.node_id}@127.0.0.1:{port_b}"])
        yield echo_a.when(lambda: len(a.peers) == 1)
        yield echo_b.when(lambda: len(b.peers) == 1)
        peer_b_seen_by_a, peer_a_seen_by_b = a.peers[0], b.peers[0]
        self.assertTrue(peer_b_seen_by_a.is_outbound and peer_b_seen_by_a.is_persistent)
        self.assertFalse(peer_a_seen_by_b.is_outbound)
        self.assertEqual(peer_a_seen_by_b.node_info.moniker, "n1")
        big = bytes(range(256)) * (20 * 1024 * 1024 // 256)
        self.assertTrue(peer_b_seen_by_a.send(ECHO, b"ping:" + big))
        self.assertTrue(peer_a_seen_by_b.send(ECHO, b"ping:small"))
        yield echo_a.when(lambda: len(echo_a.received) == 1)
        yield echo_b.when(lambda: len(echo_b.received) == 1)
        self.assertEqual(echo_a.received, [(b.node_key.node_id, b"pong:" + big)])
        self.assertEqual(echo_b.received, [(a.node_key.node_id, b"pong:small")])
        self.assertFalse(peer_b_seen_by_a.send(0x41, b"unknown channel"))

    @defer.inlineCallbacks
    def test_persistent_peer_is_redialled_and_bans_hold_it_off(self) -> Generator[Any, Any, None]:
        a, echo_a = _switch(3, SwitchConfig(mconn=FAST, redial_base=0.05, redial_max=0.2))
        b, echo_b = _switch(4)
        port_b = self.start(b)
        self.start(a)
        a.dial_peers([f"{b.node_key.node_id}@127.0.0.1:{port_b}"])
        yield echo_a.when(lambda: len(a.peers) == 1)
        b.stop_peer_for_error(b.peers[0], "test says go away")
        yield echo_a.when(lambda: len(echo_a.removed) == 1)
        yield echo_a.when(lambda: len(a.peers) == 1)  # redialled
        b.ban(a.node_key.node_id, 0.5)
        yield echo_b.when(lambda: len(echo_b.removed) == 2)
        self.assertIn("banned", echo_b.removed[1][1])
        yield deferLater(reactor, 0.25, lambda: None)
        self.assertEqual(b.peers, [])  # redials during the ban are refused
        yield echo_b.when(lambda: len(b.peers) == 1)

    @defer.inlineCallbacks
    def test_max_inbound_and_self_connections_are_refused(self) -> Generator[Any, Any, None]:
        b, _ = _switch(5, SwitchConfig(mconn=FAST, max_inbound=0))
        port_b = self.start(b)
        client = ScriptedPeer(b.node_key.node_id, None)
        yield protocol.ClientCreator(reactor, lambda: client).connectTCP("127.0.0.1", port_b)
        yield client.lost
        self.assertTrue(any("too many inbound" in m for m in self.logs.messages))
        c, _ = _switch(6)
        port_c = self.start(c)
        c.dial_peers([f"{c.node_key.node_id}@127.0.0.1:{port_c}"], persistent=False)
        self.assertTrue(any("our own node id" in m for m in self.logs.messages))

    @defer.inlineCallbacks
    def _bad_input(
        self, expected: str, script: Callable[[ScriptedPeer], None] | None, raw: bytes = b"", **kw: Any
    ) -> Generator[Any, Any, None]:
        """Connect a misbehaving client and a good node; the bad one is cut off, the good one served."""
        server, _ = _switch(
            7, SwitchConfig(mconn=FAST, handshake_timeout=0.5), capacity=kw.get("capacity", 8192)
        )
        port = self.start(server)
        client = ScriptedPeer(server.node_key.node_id, script, raw)
        yield protocol.ClientCreator(reactor, lambda: client).connectTCP("127.0.0.1", port)
        good, good_echo = _switch(8)
        self.start(good)
        good.dial_peers([f"{server.node_key.node_id}@127.0.0.1:{port}"])
        yield client.lost
        self.assertTrue(any(expected in m for m in self.logs.messages), self.logs.messages)
        client_id = PrivKey(bytes([99]) * 32).pub_key.address().hex()
        self.assertEqual(server.is_banned(client_id), kw.get("banned", False))
        yield good_echo.when(lambda: len(good.peers) == 1)
        good.peers[0].send(ECHO, b"ping:still alive")
        yield good_echo.when(lambda: bool(good_echo.received))
        self.assertEqual(good_echo.received[0][1], b"pong:still alive")

    def test_garbage_bytes(self) -> defer.Deferred[None]:
        return self._bad_input("HandshakeError", None, raw=b"\x05hello" + b"\xff" * 40)

    def test_truncated_frame_then_silence(self) -> defer.Deferred[None]:
        eph = encode_eph_pub_message(eph_public_key(bytes([7]) * 32))
        return self._bad_input("handshake timeout", None, raw=eph + bytes(100))

    def test_failed_authentication_tag(self) -> defer.Deferred[None]:
        def tamper(p: ScriptedPeer) -> None:
            p.handshake.secret.write(encode_packet_msg(ECHO, b"x", True))
            sealed = bytearray(p.handshake.secret.data_to_send())
            sealed[10] ^= 0x80
            p.transport.write(bytes(sealed))

        return self._bad_input("failed to decrypt", tamper)

    def test_replayed_frame(self) -> defer.Deferred[None]:
        def replay(p: ScriptedPeer) -> None:
            p.handshake.secret.write(encode_packet_msg(ECHO, b"x", True))
            sealed = p.handshake.secret.data_to_send()
            p.transport.write(sealed + sealed)

        return self._bad_input("failed to decrypt", replay)

    def test_oversized_packet(self) -> defer.Deferred[None]:
        return self._bad_input(
            "exceeds the limit of 1034", lambda p: p.send_sealed(uvarint(5000) + bytes(5000)), banned=True
        )

    def test_oversized_message(self) -> defer.Deferred[None]:
        chunks = b"".join(encode_packet_msg(ECHO, bytes(1024), False) for _ in range(9))
        return self._bad_input("exceeds capacity", lambda p: p.send_sealed(chunks), banned=True)

    def test_unknown_channel(self) -> defer.Deferred[None]:
        return self._bad_input(
            "unknown channel 0x41", lambda p: p.send_sealed(encode_packet_msg(0x41, b"?", True)), banned=True
        )

    def test_malformed_packet(self) -> defer.Deferred[None]:
        return self._bad_input(
            "malformed packet", lambda p: p.send_sealed(delimit(b"\x1a\xff\xff")), banned=True
        )

    def test_peer_that_stops_answering(self) -> defer.Deferred[None]:
        return self._bad_input("pong timeout", lambda p: None)


class HandshakeLimitsTest(unittest.TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def test_stalled_handshakes_never_delay_an_honest_inbound_peer(self) -> Generator[Any, Any, None]:
        """100 connections from the honest peer's own IP stall mid-handshake; it still gets in at once."""
        server, _ = _switch(11)
        port = server.listen("127.0.0.1", 0)
        self.addCleanup(server.stop)
        stalled = [ScriptedPeer(server.node_key.node_id, None, raw=b"\x22\x0a") for _ in range(100)]
        for client in stalled:
            yield protocol.ClientCreator(reactor, lambda c=client: c).connectTCP("127.0.0.1", port)
        good, good_echo = _switch(12)
        good.listen("127.0.0.1", 0)
        self.addCleanup(good.stop)
        started = reactor.seconds()
        good.dial_peers([f"{server.node_key.node_id}@127.0.0.1:{port}"])
        yield good_echo.when(lambda: len(good.peers) == 1)
        self.assertLess(reactor.seconds() - started, 3.0)
        evicted = sum(1 for c in stalled if c.lost.called)
        self.assertGreaterEqual(evicted, 100 - server.config.max_pending_handshakes_per_ip)
        self.assertGreater(server.rejections.closes["handshake_evicted"], 0)

    @defer.inlineCallbacks
    def test_a_stalled_handshake_is_closed_after_the_stage_deadline(self) -> Generator[Any, Any, None]:
        server, _ = _switch(13, SwitchConfig(mconn=FAST, handshake_stage_timeout=0.3))
        port = server.listen("127.0.0.1", 0)
        self.addCleanup(server.stop)
        client = ScriptedPeer(server.node_key.node_id, None, raw=b"\x22")
        started = reactor.seconds()
        yield protocol.ClientCreator(reactor, lambda: client).connectTCP("127.0.0.1", port)
        yield client.lost
        self.assertLess(reactor.seconds() - started, 2.0)
        self.assertEqual(server.rejections.closes["handshake_timeout"], 1)

    @defer.inlineCallbacks
    def test_chain_id_mismatch_is_said_once_per_peer_and_once_for_the_node(self) -> Generator[Any, Any, None]:
        logs = LogCapture()
        logging.getLogger("cometsync.p2p").addHandler(logs)
        self.addCleanup(logging.getLogger("cometsync.p2p").removeHandler, logs)
        other = Switch(NodeKey(PrivKey(bytes([14]) * 32)), "other-chain", config=SwitchConfig(mconn=FAST))
        other.add_reactor("echo", EchoReactor())
        port = other.listen("127.0.0.1", 0)
        self.addCleanup(other.stop)
        ours, _ = _switch(15, SwitchConfig(mconn=FAST, redial_base=0.05, redial_max=0.1))
        self.addCleanup(ours.stop)
        ours.dial_peers([f"{other.node_key.node_id}@127.0.0.1:{port}"])
        for _ in range(100):
            if ours.rejections.closes["NetworkMismatch"] >= 3:
                break
            yield deferLater(reactor, 0.05, lambda: None)
        self.assertGreaterEqual(ours.rejections.closes["NetworkMismatch"], 3)
        said = [
            m for m in logs.messages if f"is on chain 'other-chain', this node is on chain '{NETWORK}'" in m
        ]
        self.assertEqual(len(said), 1)
        self.assertIsNotNone(ours.network_warning)
        node_lines = [m for m in logs.messages if "every persistent peer is on another chain" in m]
        self.assertEqual(len(node_lines), 1)
