"""What the sans-IO pool asks its driver (the reactor) to do; the pool itself never touches the network.

`Action` is a closed union: the driver matches it exhaustively (`typing.assert_never`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SendRequest:
    """Send a BlockRequest for `height` to `peer_id`."""

    peer_id: str
    height: int


@dataclass(frozen=True)
class RequestStatus:
    """Send a StatusRequest to `peer_id`: it refused a height it claims, its answer confirms a lie or not."""

    peer_id: str


@dataclass(frozen=True)
class PeerError:
    """Disconnect `peer_id` without a ban (CometBFT's StopPeerForError); the pool already forgot the peer."""

    peer_id: str
    reason: str


@dataclass(frozen=True)
class PeerBanned:
    """The pool ignores `peer_id` until `until` (clock seconds); with `disconnect`, drop it from the switch
    for as long (it lied or sent a bad block, so redialing it now only wastes requests)."""

    peer_id: str
    reason: str
    until: float
    disconnect: bool


Action = SendRequest | RequestStatus | PeerError | PeerBanned
