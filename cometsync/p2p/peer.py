"""A connected, authenticated peer as reactors see it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cometsync.p2p.mconnection import MConnection
from cometsync.p2p.node_info import NodeInfo


@dataclass(eq=False)
class Peer:
    """Send to a peer on one of the channels it announced; `data` is scratch space for reactors."""

    node_info: NodeInfo
    remote_address: tuple[str, int]
    is_outbound: bool
    is_persistent: bool
    mconn: MConnection = field(repr=False)
    close: Callable[[str], None] = field(repr=False)
    data: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def id(self) -> str:
        return self.node_info.node_id

    def send(self, channel_id: int, msg_bytes: bytes) -> bool:
        """Queue a message (never blocks, accepts beyond the queue's capacity); False if impossible."""
        return self.node_info.has_channel(channel_id) and self.mconn.send(channel_id, msg_bytes)

    def try_send(self, channel_id: int, msg_bytes: bytes) -> bool:
        """Queue a message only if the channel's send queue has room."""
        return self.node_info.has_channel(channel_id) and self.mconn.try_send(channel_id, msg_bytes)

    def can_send(self, channel_id: int) -> bool:
        """Room in the channel's send queue (check before loading what to send)."""
        return self.node_info.has_channel(channel_id) and self.mconn.can_send(channel_id)

    def is_running(self) -> bool:
        return self.mconn.running

    def __str__(self) -> str:
        direction = "out" if self.is_outbound else "in"
        return f"Peer{{{self.id}@{self.remote_address[0]}:{self.remote_address[1]} {direction}}}"
