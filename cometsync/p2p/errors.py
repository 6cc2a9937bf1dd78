"""Errors raised by the p2p layer; each one closes a single connection, never the node."""

from __future__ import annotations


class P2PError(Exception):
    """Base class: the connection that raised it is closed with this reason."""


class DecodeError(P2PError):
    """Bytes from the peer do not form a valid length-delimited message or packet."""


class HandshakeError(P2PError):
    """SecretConnection or NodeInfo handshake failed (bad key, bad signature, bad frame)."""


class FrameError(P2PError):
    """A sealed SecretConnection frame failed to open or carries an invalid length."""


class RejectedPeerError(P2PError):
    """The peer authenticated but must not be connected (incompatible, self, banned, duplicate)."""


class MConnectionError(P2PError):
    """MConnection protocol violation (unknown channel, oversized message, pong timeout)."""


class NetworkMismatch(RejectedPeerError):
    """The peer authenticated but is on another chain (its NodeInfo network is not our chain id)."""

    def __init__(self, peer_id: str, theirs: str, ours: str) -> None:
        super().__init__(f"peer is on network {theirs!r}, we are on {ours!r}")
        self.peer_id = peer_id
        self.theirs = theirs
        self.ours = ours
