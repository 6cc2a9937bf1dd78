"""CometBFT's MConnection without sockets: packets, channels, scheduling, keep-alive and rate limits.

Plaintext goes out through `MConnTransport.write` (one call per flush, i.e. one SecretConnection
`Write`); incoming plaintext is fed to `receive`. Timers use an injected clock, so tests drive it with
`twisted.internet.task.Clock`. Unlike CometBFT's 100 ms flush timer, a send queue that goes from empty
to non-empty is flushed at the end of the same reactor turn, so an answer never waits for a timer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from google.protobuf.message import DecodeError as ProtoDecodeError

from cometsync.clock import Clock, DelayedCall, cancel_call
from cometsync.p2p.channel import Channel, ChannelDescriptor
from cometsync.p2p.delimited import DelimitedReader, delimit
from cometsync.p2p.errors import DecodeError, MConnectionError, P2PError
from cometsync.p2p.rate_limit import TokenBucket
from cometsync.proto.tendermint.p2p import conn_pb2

log = logging.getLogger(__name__)

DEFAULT_SEND_RATE = 5_120_000
DEFAULT_RECV_RATE = 5_120_000
PONG_TIMEOUT = "pong timeout"
"""The one MConnection failure that is not the peer's protocol violation (a slow or dead link)."""
PING_PACKET = delimit(conn_pb2.Packet(packet_ping=conn_pb2.PacketPing()).SerializeToString())
PONG_PACKET = delimit(conn_pb2.Packet(packet_pong=conn_pb2.PacketPong()).SerializeToString())


@dataclass(frozen=True)
class MConnConfig:
    """CometBFT's `[p2p]` connection settings and defaults (rates in bytes/s, times in seconds)."""

    send_rate: int = DEFAULT_SEND_RATE
    recv_rate: int = DEFAULT_RECV_RATE
    max_packet_msg_payload_size: int = 1024
    flush_throttle: float = 0.1
    ping_interval: float = 60.0
    pong_timeout: float = 45.0
    write_buffer_size: int = 65536

    def __post_init__(self) -> None:
        if self.pong_timeout >= self.ping_interval:
            raise ValueError("pong_timeout must be less than ping_interval")

    @property
    def max_packet_msg_size(self) -> int:
        """Largest encoded Packet a peer may send (CometBFT's `maxPacketMsgSize`, 1034 for 1024)."""
        return len(_packet_msg_proto(0x01, bytes(self.max_packet_msg_payload_size), True))

    def rate_burst(self, rate: int) -> int:
        return max(rate // 10, self.write_buffer_size)


def _packet_msg_proto(channel_id: int, data: bytes, eof: bool) -> bytes:
    packet = conn_pb2.Packet(packet_msg=conn_pb2.PacketMsg(channel_id=channel_id, eof=eof, data=data))
    return bytes(packet.SerializeToString())


def encode_packet_msg(channel_id: int, data: bytes, eof: bool) -> bytes:
    """One length-delimited `Packet{packet_msg}`."""
    return delimit(_packet_msg_proto(channel_id, data, eof))


class MConnTransport(Protocol):
    """Where an MConnection writes (plaintext, sealed by the caller) and how it throttles reading."""

    def write(self, data: bytes) -> None: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


ReceiveCallback = Callable[[int, bytes], None]
ErrorCallback = Callable[[str], None]
PeekCallback = Callable[[int, bytes], bool]


def _peek_for(on_peek: PeekCallback | None, channel_id: int) -> Callable[[bytes], bool] | None:
    if on_peek is None:
        return None
    return lambda prefix: on_peek(channel_id, prefix)


class MConnection:
    """Multiplexes prioritized channels over one stream; reports errors once via `on_error`."""

    def __init__(
        self,
        clock: Clock,
        transport: MConnTransport,
        channels: Sequence[ChannelDescriptor],
        on_receive: ReceiveCallback,
        on_error: ErrorCallback,
        config: MConnConfig | None = None,
        on_peek: PeekCallback | None = None,
    ) -> None:
        """`on_peek(channel_id, prefix)`: see `Channel` (False discards the rest of that message)."""
        self.config = config or MConnConfig()
        self._clock = clock
        self._transport = transport
        self._on_receive = on_receive
        self._on_error = on_error
        payload = self.config.max_packet_msg_payload_size
        self._channels = {desc.id: Channel(desc, payload, _peek_for(on_peek, desc.id)) for desc in channels}
        self._reader = DelimitedReader(self.config.max_packet_msg_size)
        self._send_limit = TokenBucket(
            clock, self.config.send_rate, self.config.rate_burst(self.config.send_rate)
        )
        self._recv_limit = TokenBucket(
            clock, self.config.recv_rate, self.config.rate_burst(self.config.recv_rate)
        )
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._ping_pending = False
        self._pong_pending = False
        self._send_call: DelayedCall | None = None
        self._flush_call: DelayedCall | None = None
        self._ping_call: DelayedCall | None = None
        self._pong_timer: DelayedCall | None = None
        self._resume_read_call: DelayedCall | None = None
        self._stats_time = clock.seconds()
        self._writing_paused = False
        self.running = False

    def start(self) -> None:
        self.running = True
        self._ping_call = self._clock.callLater(self.config.ping_interval, self._ping_due)

    def stop(self) -> None:
        """Stop timers and drop queued messages; nothing is written after this."""
        self.running = False
        for call in (
            self._send_call,
            self._flush_call,
            self._ping_call,
            self._pong_timer,
            self._resume_read_call,
        ):
            cancel_call(call)
        for channel in self._channels.values():
            channel.clear()
        self._buffer.clear()

    def _fail(self, reason: str) -> None:
        if self.running:
            self.stop()
            self._on_error(reason)

    # -- sending --------------------------------------------------------------------------------------

    def send(self, channel_id: int, message: bytes) -> bool:
        """Queue a message even when the queue is full (CometBFT's blocking `Send`); False if unknown."""
        return self._enqueue(channel_id, message, respect_capacity=False)

    def try_send(self, channel_id: int, message: bytes) -> bool:
        """Queue a message only if the channel's send queue has room (CometBFT's `TrySend`)."""
        return self._enqueue(channel_id, message, respect_capacity=True)

    def can_send(self, channel_id: int) -> bool:
        """Would `try_send` take a message now (so a caller can skip building one)?"""
        channel = self._channels.get(channel_id)
        return self.running and channel is not None and channel.can_queue()

    def _enqueue(self, channel_id: int, message: bytes, respect_capacity: bool) -> bool:
        channel = self._channels.get(channel_id)
        if not self.running or channel is None or (respect_capacity and not channel.can_queue()):
            return False
        channel.push(message)
        self._schedule_send(0.0)
        return True

    def pause_writing(self) -> None:
        """The transport's buffer is full: stop producing packets until `resume_writing`."""
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._schedule_send(0.0)

    def _schedule_send(self, delay: float) -> None:
        if self.running and self._send_call is None:
            self._send_call = self._clock.callLater(delay, self._send_turn)

    def _pick_channel(self) -> Channel | None:
        """The pending channel with the least recently-sent bytes per unit of priority."""
        now = self._clock.seconds()
        elapsed, self._stats_time = now - self._stats_time, now
        best: Channel | None = None
        best_ratio = float("inf")
        for channel in self._channels.values():
            if elapsed:
                channel.decay_stats(elapsed)
            if channel.send_pending:
                ratio = channel.recently_sent / channel.desc.priority
                if ratio < best_ratio:
                    best, best_ratio = channel, ratio
        return best

    def _send_turn(self) -> None:
        self._send_call = None
        if not self.running or self._writing_paused:
            return
        urgent = self._ping_pending or self._pong_pending
        if self._ping_pending:
            self._ping_pending = False
            self._append(PING_PACKET)
            cancel_call(self._pong_timer)
            self._pong_timer = self._clock.callLater(self.config.pong_timeout, self._fail, PONG_TIMEOUT)
        if self._pong_pending:
            self._pong_pending = False
            self._append(PONG_PACKET)
        limit = self.config.write_buffer_size
        channel = self._pick_channel()
        while channel is not None and self._buffered < limit and not self._send_limit.delay():
            data, eof = channel.next_packet()
            packet = encode_packet_msg(channel.desc.id, data, eof)
            channel.recently_sent += len(packet)
            self._send_limit.consume(len(packet))
            self._append(packet)
            channel = self._pick_channel()
        if channel is None or urgent or self._buffered >= limit:
            self._flush()
        elif self._flush_call is None:
            self._flush_call = self._clock.callLater(self.config.flush_throttle, self._flush)
        if channel is not None:
            self._schedule_send(self._send_limit.delay())

    def _append(self, packet: bytes) -> None:
        self._buffer.append(packet)
        self._buffered += len(packet)

    def _flush(self) -> None:
        cancel_call(self._flush_call)
        self._flush_call = None
        if self._buffer and self.running:
            data = b"".join(self._buffer)
            self._buffer.clear()
            self._buffered = 0
            self._transport.write(data)

    # -- keep-alive -----------------------------------------------------------------------------------

    def _ping_due(self) -> None:
        self._ping_call = self._clock.callLater(self.config.ping_interval, self._ping_due)
        self._ping_pending = True
        self._schedule_send(0.0)

    # -- receiving ------------------------------------------------------------------------------------

    def receive(self, data: bytes) -> None:
        """Consume decrypted stream bytes; a protocol violation fails the connection."""
        if not self.running:
            return
        self._recv_limit.consume(len(data))
        self._reader.feed(data)
        try:
            while self.running:
                raw = self._reader.next_message()
                if raw is None:
                    break
                self._handle_packet(raw)
        except P2PError as exc:
            self._fail(str(exc))
            return
        delay = self._recv_limit.delay()
        if delay and self.running and self._resume_read_call is None:
            self._transport.pause_reading()
            self._resume_read_call = self._clock.callLater(delay, self._resume_reading)

    def _resume_reading(self) -> None:
        self._resume_read_call = None
        if self.running:
            self._transport.resume_reading()

    def _handle_packet(self, raw: bytes) -> None:
        try:
            packet = conn_pb2.Packet.FromString(raw)
        except ProtoDecodeError as exc:
            raise DecodeError(f"malformed packet: {exc}") from exc
        kind = packet.WhichOneof("sum")
        if kind == "packet_ping":
            self._pong_pending = True
            self._schedule_send(0.0)
        elif kind == "packet_pong":
            cancel_call(self._pong_timer)
            self._pong_timer = None
        elif kind == "packet_msg":
            msg = packet.packet_msg
            channel = self._channels.get(msg.channel_id)
            if channel is None:
                raise MConnectionError(f"unknown channel {msg.channel_id:#x}")
            message = channel.receive_packet(msg.data, msg.eof)
            if message is not None:
                self._on_receive(msg.channel_id, message)
        else:
            raise MConnectionError("unknown packet type")
