"""The interface a reactor (blocksync, ...) implements to live on channels of every peer connection."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from cometsync.p2p.channel import ChannelDescriptor

if TYPE_CHECKING:
    from cometsync.p2p.peer import Peer
    from cometsync.p2p.switch import Switch


class Reactor(ABC):
    """CometBFT's `p2p.Reactor`: declare channels, follow peers coming and going, handle messages.

    `receive` runs on the reactor thread; raising from it (or from `filter_msg_bytes`) stops that peer, but
    is treated as a bug: reactors handle bad peer input themselves.
    """

    switch: Switch | None = None

    @abstractmethod
    def get_channels(self) -> list[ChannelDescriptor]:
        """Channels this reactor owns; their ids go into our NodeInfo."""

    @abstractmethod
    def receive(self, channel_id: int, peer: Peer, msg_bytes: bytes) -> None:
        """A whole message arrived on one of our channels."""

    def set_switch(self, switch: Switch) -> None:
        self.switch = switch

    def add_peer(self, peer: Peer) -> None:  # noqa: B027 - optional hook
        """A peer connected and passed the handshake; sending to it is possible from now on."""

    def remove_peer(self, peer: Peer, reason: str) -> None:  # noqa: B027 - optional hook
        """The peer is gone (error, ban or shutdown)."""

    def peek_msg_prefix(self, channel_id: int, peer: Peer, prefix: bytes) -> bool:
        """The first PEEK_BYTES of a longer message, before the rest is buffered; False discards it unread."""
        return True

    def filter_msg_bytes(self, channel_id: int, peer: Peer, msg_bytes: bytes) -> bool:
        """Optional cheap check before decoding; False drops the message (the reactor deals with the peer)."""
        return True
