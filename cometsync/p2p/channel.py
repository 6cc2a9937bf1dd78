"""Channel descriptors and per-channel send/receive state of an MConnection."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from cometsync.p2p.errors import MConnectionError

DEFAULT_SEND_QUEUE_CAPACITY = 1
DEFAULT_RECV_BUFFER_CAPACITY = 4096
DEFAULT_RECV_MESSAGE_CAPACITY = 22020096  # 21 MiB, CometBFT's default
STATS_HALF_LIFE_SECONDS = 2.0  # CometBFT decays recentlySent by 0.8 every 2 s
PEEK_BYTES = 1024
"""A multi-packet message is shown to the reactor's `peek` once this much of it arrived."""

Peek = Callable[[bytes], bool]


@dataclass(frozen=True)
class ChannelDescriptor:
    """What a reactor declares for each channel it owns (CometBFT's `conn.ChannelDescriptor`)."""

    id: int
    priority: int = 1
    send_queue_capacity: int = DEFAULT_SEND_QUEUE_CAPACITY
    recv_buffer_capacity: int = DEFAULT_RECV_BUFFER_CAPACITY
    recv_message_capacity: int = DEFAULT_RECV_MESSAGE_CAPACITY
    send_queue_max_bytes: int = 0
    """`try_send` also refuses once this many bytes are queued (0: count only, as CometBFT), so a peer
    that asks for much and reads nothing cannot make us hold 1000 big messages."""

    def __post_init__(self) -> None:
        if not 0 <= self.id <= 0xFF:
            raise ValueError(f"channel id {self.id} does not fit a byte")
        if self.priority <= 0:
            raise ValueError("channel priority must be positive")


class Channel:
    """Send queue (whole messages, cut into packets lazily) and receive reassembly for one channel."""

    def __init__(self, desc: ChannelDescriptor, max_payload: int, peek: Peek | None = None) -> None:
        """`peek(prefix)` sees the first PEEK_BYTES of every longer message; False discards the rest of
        it unbuffered (the reactor judged it from its first bytes)."""
        self.desc = desc
        self.max_payload = max_payload
        self._peek = peek
        self._peeked = False
        self._discarding = False
        self.queue: deque[bytes] = deque()
        self.queued_bytes = 0
        self._sending: memoryview | None = None
        self._offset = 0
        self.recently_sent = 0.0
        self._recv_parts: list[bytes] = []
        self._recv_size = 0

    def can_queue(self) -> bool:
        if len(self.queue) >= self.desc.send_queue_capacity:
            return False
        limit = self.desc.send_queue_max_bytes
        return limit == 0 or self.queued_bytes < limit

    def push(self, message: bytes) -> None:
        self.queue.append(message)
        self.queued_bytes += len(message)

    @property
    def send_pending(self) -> bool:
        return self._sending is not None or bool(self.queue)

    def next_packet(self) -> tuple[bytes, bool]:
        """The next chunk of the message being sent, and whether it is the message's last (eof)."""
        if self._sending is None:
            self._sending = memoryview(self.queue.popleft())
            self.queued_bytes -= len(self._sending)
            self._offset = 0
        end = self._offset + self.max_payload
        chunk = bytes(self._sending[self._offset : end])
        if end >= len(self._sending):
            self._sending = None
            return chunk, True
        self._offset = end
        return chunk, False

    def decay_stats(self, elapsed: float) -> None:
        self.recently_sent *= 0.8 ** (elapsed / STATS_HALF_LIFE_SECONDS)

    def receive_packet(self, data: bytes, eof: bool) -> bytes | None:
        """Append a chunk; return the whole message on eof. Too large a message ends the connection."""
        size = self._recv_size + len(data)
        if size > self.desc.recv_message_capacity:
            raise MConnectionError(
                f"message on channel {self.desc.id:#04x} exceeds capacity: "
                f"{self.desc.recv_message_capacity} < {size}"
            )
        self._recv_size = size
        if not self._discarding:
            self._recv_parts.append(data)
            if not eof and not self._peeked and size >= PEEK_BYTES and self._peek is not None:
                self._peeked = True
                if not self._peek(b"".join(self._recv_parts)):
                    self._discarding = True
                    self._recv_parts = []
        if not eof:
            return None
        message = None if self._discarding else b"".join(self._recv_parts)
        self._recv_parts = []
        self._recv_size = 0
        self._peeked = self._discarding = False
        return message

    def clear(self) -> None:
        self.queue.clear()
        self.queued_bytes = 0
        self._sending = None
        self._recv_parts = []
        self._recv_size = 0
        self._peeked = self._discarding = False
