"""What the sans-IO pool asks its driver (the reactor) to do; the pool itself never touches the network."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SendRequest:
    """Send a BlockRequest for `height` to `peer_id`."""

    peer_id: str
    height: int


@dataclass(frozen=True)
class PeerError:
    """Disconnect `peer_id` (CometBFT's StopPeerForError); the pool already forgot the peer."""

    peer_id: str
    reason: str


@dataclass(frozen=True)
class PeerBanned:
    """The pool ignores `peer_id` until `until` (clock seconds); informational, no disconnect by itself."""

    peer_id: str
    reason: str
    until: float


Action = SendRequest | PeerError | PeerBanned
