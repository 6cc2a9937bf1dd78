"""Replays the CometBFT v0.38.25 connection transcript through our handshake and MConnection, both sides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.task import Clock

from cometsync.crypto import PrivKey
from cometsync.p2p.channel import ChannelDescriptor
from cometsync.p2p.handshake import HandshakeResult, PeerHandshake
from cometsync.p2p.mconnection import MConnection, encode_packet_msg
from cometsync.p2p.node_info import NodeInfo, ProtocolVersion
from cometsync.p2p.secret_connection import SecretConnection
from cometsync.proto.tendermint.blocksync import types_pb2 as bs_pb2

DATA = Path(__file__).parent / "data" / "cometbft-v0.38.25-p2p" / "handshake.json"
T: dict[str, Any] = json.loads(DATA.read_text())
BLOCKSYNC = 0x40


def _other(name: str) -> str:
    return "B" if name == "A" else "A"


def _chunks(name: str) -> list[bytes]:
    return [bytes.fromhex(c["hex"]) for c in T["wire"][name]["chunks"]]


def _node_info(name: str) -> NodeInfo:
    info = T["node_info"][name]
    version = info["protocol_version"]
    return NodeInfo(
        node_id=info["default_node_id"],
        listen_addr=info["listen_addr"],
        network=info["network"],
        channels=bytes.fromhex(info["channels_hex"]),
        moniker=info["moniker"],
        version=info["version"],
        protocol_version=ProtocolVersion(version["p2p"], version["block"], version["app"]),
        tx_index=info["tx_index"],
        rpc_address=info["rpc_address"],
    )


class SealingTransport:
    """Seals every MConnection flush with the handshake's SecretConnection and records the wire bytes."""

    def __init__(self, secret: SecretConnection) -> None:
        self.secret = secret
        self.flushes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.secret.write(data)
        self.flushes.append(self.secret.data_to_send())

    def pause_reading(self) -> None:
        raise AssertionError("the transcript is far below the receive rate limit")

    def resume_reading(self) -> None:
        raise AssertionError("never paused")


def _handshake(name: str) -> tuple[PeerHandshake, HandshakeResult]:
    """Run our side `name` against a causal replay of the other side; check every byte we write."""
    ours, theirs = _chunks(name), _chunks(_other(name))
    inputs = T["inputs"][name]
    hs = PeerHandshake(
        PrivKey(bytes.fromhex(inputs["ed25519_seed_hex"])),
        _node_info(name),
        dialed_id=T["inputs"]["B"]["node_id"] if name == "A" else None,
        eph_priv=bytes.fromhex(inputs["eph_priv_hex"]),
    )
    assert hs.data_to_send() == ours[0]
    assert hs.receive(theirs[0]) is None
    assert hs.data_to_send() == ours[1]
    assert hs.receive(theirs[1]) is None
    assert hs.data_to_send() == ours[2]
    result = hs.receive(theirs[2])
    assert result is not None and result.leftover == b""
    assert result.node_info == _node_info(_other(name))
    assert result.node_info.encode().hex() == T["node_info"][_other(name)]["delimited_hex"]
    return hs, result


def _mconnection(
    hs: PeerHandshake, clock: Clock, received: list[tuple[int, bytes]], errors: list[str]
) -> MConnection:
    transport = SealingTransport(hs.secret)
    mconn = MConnection(
        clock,
        transport,
        [ChannelDescriptor(BLOCKSYNC, priority=5, send_queue_capacity=1000)],
        lambda ch, msg: received.append((ch, msg)),
        errors.append,
    )
    mconn.start()
    return mconn


def test_dialer_side_a_writes_cometbfts_bytes() -> None:
    hs, _ = _handshake("A")
    clock = Clock()
    received: list[tuple[int, bytes]] = []
    errors: list[str] = []
    mconn = _mconnection(hs, clock, received, errors)
    transport = mconn._transport
    assert isinstance(transport, SealingTransport)
    chunks = _chunks("A")
    for message in T["mconnection"]["messages"][:3]:
        assert mconn.send(message["channel_id"], bytes.fromhex(message["payload_hex"]))
        clock.advance(0)
        assert transport.flushes[-1] == b"".join(chunks[i] for i in message["sealed_frame_seqs"])
    clock.advance(mconn.config.ping_interval)
    assert transport.flushes[-1] == chunks[8]
    assert len(transport.flushes) == 4
    # B's pong arrives and cancels the pong timeout: no error even long after.
    mconn.receive(hs.secret.receive(_chunks("B")[3]))
    clock.advance(mconn.config.pong_timeout + 1)
    assert received == [] and errors == [] and mconn.running


def test_listener_side_b_reads_messages_and_answers_the_ping() -> None:
    hs, _ = _handshake("B")
    clock = Clock()
    received: list[tuple[int, bytes]] = []
    errors: list[str] = []
    mconn = _mconnection(hs, clock, received, errors)
    transport = mconn._transport
    assert isinstance(transport, SealingTransport)
    stream = b"".join(_chunks("A")[3:])
    for start in range(0, len(stream), 500):  # arbitrary cuts: frames and packets span reads
        mconn.receive(hs.secret.receive(stream[start : start + 500]))
    clock.advance(0)
    payloads = [bytes.fromhex(m["payload_hex"]) for m in T["mconnection"]["messages"][:3]]
    assert received == [(BLOCKSYNC, p) for p in payloads]
    assert transport.flushes == [_chunks("B")[3]]
    block = bs_pb2.Message.FromString(received[2][1]).block_response.block
    assert block.header.height == 45 and block.header.chain_id == "voteext-4v"
    assert errors == []


@pytest.mark.parametrize("index", range(5))
def test_packet_encodings(index: int) -> None:
    message = T["mconnection"]["messages"][index]
    for packet in message["packets"]:
        if packet["kind"] == "PacketMsg":
            encoded = encode_packet_msg(
                packet["channel_id"], bytes.fromhex(packet["data_hex"]), packet["eof"]
            )
            assert encoded.hex() == packet["delimited_hex"]
    assert (
        len(b"".join(bytes.fromhex(p["delimited_hex"]) for p in message["packets"]))
        == message["flush_plaintext_len"]
    )
