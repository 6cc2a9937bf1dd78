"""MConnection, NodeInfo and address rules with a deterministic clock (no sockets)."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock

from cometsync.p2p.channel import ChannelDescriptor
from cometsync.p2p.delimited import DelimitedReader
from cometsync.p2p.errors import HandshakeError, RejectedPeerError
from cometsync.p2p.mconnection import MConnConfig, MConnection, encode_packet_msg
from cometsync.p2p.netaddress import AddressError, NetAddress
from cometsync.p2p.node_info import NodeInfo
from cometsync.proto.tendermint.p2p import conn_pb2


class Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.paused = 0

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def pause_reading(self) -> None:
        self.paused += 1

    def resume_reading(self) -> None:
        self.paused -= 1


def _packets(data: bytes) -> list[conn_pb2.Packet]:
    reader = DelimitedReader(2000)
    reader.feed(data)
    out = []
    while (raw := reader.next_message()) is not None:
        out.append(conn_pb2.Packet.FromString(raw))
    return out


def _mconn(config: MConnConfig | None = None) -> tuple[MConnection, Clock, Recorder, list[str]]:
    clock, transport, errors = Clock(), Recorder(), []
    channels = [ChannelDescriptor(1, priority=1, send_queue_capacity=2), ChannelDescriptor(2, priority=10)]
    mconn = MConnection(clock, transport, channels, lambda ch, msg: None, errors.append, config)
    mconn.start()
    return mconn, clock, transport, errors


def test_try_send_respects_capacity_and_send_does_not() -> None:
    mconn, clock, transport, _ = _mconn()
    assert mconn.try_send(1, b"a") and mconn.try_send(1, b"b") and not mconn.try_send(1, b"c")
    assert mconn.send(1, b"c") and not mconn.send(9, b"unknown")
    clock.advance(0)
    assert [p.packet_msg.data for p in _packets(b"".join(transport.writes))] == [b"a", b"b", b"c"]


def test_try_send_also_respects_a_byte_budget_for_a_peer_that_does_not_read() -> None:
    clock, transport = Clock(), Recorder()
    channel = ChannelDescriptor(3, send_queue_capacity=1000, send_queue_max_bytes=10_000)
    mconn = MConnection(clock, transport, [channel], lambda ch, msg: None, lambda reason: None)
    mconn.start()
    mconn.pause_writing()  # TCP back-pressure: nothing leaves
    queued = 0
    while mconn.try_send(3, bytes(3000)):
        queued += 1
    assert queued == 4  # the message that crosses the budget is still taken, the next is not
    mconn.resume_writing()
    clock.advance(0)
    assert mconn.try_send(3, bytes(3000))


def test_higher_priority_channel_goes_first_and_big_messages_are_chunked() -> None:
    mconn, clock, transport, _ = _mconn()
    mconn.send(1, bytes(3000))
    mconn.send(2, bytes(3000))
    clock.advance(0)
    packets = _packets(b"".join(transport.writes))
    assert [p.packet_msg.channel_id for p in packets[:3]] == [1, 2, 2]  # channel 2: 10x the share
    assert [p.packet_msg.eof for p in packets if p.packet_msg.channel_id == 1] == [False, False, True]
    assert len(transport.writes) == 1  # one flush at the end of the turn


def test_send_rate_limit_spreads_writes_over_time() -> None:
    config = MConnConfig(send_rate=100_000, write_buffer_size=10_000)
    mconn, clock, transport, _ = _mconn(config)
    mconn.send(2, bytes(50_000))
    clock.advance(0)
    first = sum(map(len, transport.writes))
    assert 10_000 <= first < 50_000
    for _ in range(20):
        clock.advance(0.1)
    assert sum(map(len, transport.writes)) > 50_000


def test_recv_rate_limit_pauses_reading_then_resumes() -> None:
    mconn, clock, transport, _ = _mconn(MConnConfig(recv_rate=10_000, write_buffer_size=1000))
    mconn.receive(bytes([2, 0x0A, 0x00]) * 5000)  # pings
    assert transport.paused == 1
    clock.advance(2)
    assert transport.paused == 0


def test_pong_timeout_fails_once() -> None:
    mconn, clock, _, errors = _mconn(MConnConfig(ping_interval=10, pong_timeout=5))
    clock.advance(10)
    clock.advance(5)
    assert errors == ["pong timeout"] and not mconn.running
    clock.advance(100)
    assert errors == ["pong timeout"]


def test_node_info_validation_and_compatibility() -> None:
    ours = NodeInfo("ab" * 20, "tcp://0.0.0.0:26656", "chain", bytes([0x40]), "us")
    ours.validate()
    with pytest.raises(RejectedPeerError, match="network"):
        ours.check_compatible(NodeInfo("cd" * 20, "1.2.3.4:1", "other", bytes([0x40]), "x"))
    with pytest.raises(RejectedPeerError, match="common channels"):
        ours.check_compatible(NodeInfo("cd" * 20, "1.2.3.4:1", "chain", bytes([0x20]), "x"))
    for bad in (
        NodeInfo("AB" * 20, "1.2.3.4:1", "chain", b"@", "x"),
        NodeInfo("ab" * 20, "no-port", "chain", b"@", "x"),
        NodeInfo("ab" * 20, "1.2.3.4:1", "chain", b"@@", "x"),
        NodeInfo("ab" * 20, "1.2.3.4:1", "chain", b"@", ""),
        NodeInfo("ab" * 20, "1.2.3.4:1", "chain", bytes(range(17)), "x"),
    ):
        with pytest.raises(HandshakeError):
            bad.validate()


def test_net_address_parsing() -> None:
    address = NetAddress.parse("tcp://" + "ab" * 20 + "@127.0.0.1:26656")
    assert (address.host, address.port, str(address)) == ("127.0.0.1", 26656, "ab" * 20 + "@127.0.0.1:26656")
    assert NetAddress.parse("ab" * 20 + "@[::1]:5").host == "::1"
    for bad in ("127.0.0.1:1", "xyz@127.0.0.1:1", "ab" * 20 + "@host:99999", "ab" * 20 + "@host"):
        with pytest.raises(AddressError):
            NetAddress.parse(bad)


def test_a_message_refused_at_its_peek_is_discarded_unbuffered_and_the_next_one_arrives() -> None:
    clock, transport, received, peeks = Clock(), Recorder(), [], []

    def peek(channel_id: int, prefix: bytes) -> bool:
        peeks.append(prefix)
        return not prefix.startswith(b"bad")

    channel = ChannelDescriptor(4, recv_message_capacity=100_000)
    mconn = MConnection(
        clock, transport, [channel], lambda ch, msg: received.append(msg), lambda r: None, None, peek
    )
    mconn.start()
    for message in (b"bad" + bytes(5000), b"good" + bytes(3000), b"tiny"):
        chunks = [message[i : i + 1024] for i in range(0, len(message), 1024)]
        mconn.receive(b"".join(encode_packet_msg(4, c, i == len(chunks) - 1) for i, c in enumerate(chunks)))
    assert received == [b"good" + bytes(3000), b"tiny"]
    assert [len(p) for p in peeks] == [1024, 1024]  # once per long message, never for a one-packet one
