"""Twisted glue: one `PeerConnection` protocol per TCP connection, driving the sans-IO handshake and
MConnection, and turning every error into a logged close of that connection only."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol, cast

from twisted.internet import protocol
from twisted.python.failure import Failure

from cometsync.clock import DelayedCall, cancel_call
from cometsync.p2p.errors import NetworkMismatch, P2PError
from cometsync.p2p.handshake import HandshakeResult, PeerHandshake
from cometsync.p2p.mconnection import PONG_TIMEOUT, MConnection
from cometsync.p2p.netaddress import NetAddress
from cometsync.p2p.peer import Peer

if TYPE_CHECKING:
    from cometsync.p2p.switch import Switch

log = logging.getLogger(__name__)

PROTOCOL_BAN_SECONDS = 60.0
"""How long a peer that broke the MConnection protocol (bad packet, oversized message) stays out."""


class TCPTransport(Protocol):
    """What we use of Twisted's TCP transport (zope interfaces do not type-check as call targets)."""

    def write(self, data: bytes) -> None: ...

    def abortConnection(self) -> None: ...

    def pauseProducing(self) -> None: ...

    def resumeProducing(self) -> None: ...

    def registerProducer(self, producer: Any, streaming: bool) -> None: ...

    def getPeer(self) -> Any: ...


class _WriteBackpressure:
    """A push producer on the TCP transport: when its write buffer fills, stop producing packets."""

    def __init__(self, conn: PeerConnection) -> None:
        self._conn = conn

    def pauseProducing(self) -> None:
        if self._conn.mconn is not None:
            self._conn.mconn.pause_writing()

    def resumeProducing(self) -> None:
        if self._conn.mconn is not None:
            self._conn.mconn.resume_writing()

    def stopProducing(self) -> None:
        self.pauseProducing()


class PeerConnection(protocol.Protocol):
    """Handshake, then MConnection; `close(reason)` aborts this connection and nothing else."""

    def __init__(self, switch: Switch, dialed: NetAddress | None) -> None:
        self.switch = switch
        self.dialed = dialed
        self.handshake: PeerHandshake | None = None
        self.mconn: MConnection | None = None
        self.peer: Peer | None = None
        self.close_reason = "connection lost"
        self._timeout: DelayedCall | None = None
        self._tcp: TCPTransport | None = None
        self.started_at = switch.clock.seconds()
        self._stage = -1

    @property
    def handshake_stage(self) -> int:
        """-1 before the handshake, then `PeerHandshake.stage` (3 once upgraded)."""
        return self.handshake.stage if self.handshake is not None else -1

    @property
    def handshaking(self) -> bool:
        return self.mconn is None and self.close_reason == "connection lost"

    @property
    def is_outbound(self) -> bool:
        return self.dialed is not None

    def connectionMade(self) -> None:
        tcp = cast(TCPTransport, self.transport)
        self._tcp = tcp
        refusal = self.switch.admit_connection(self)
        if refusal:
            self.close(refusal, "refused")
            return
        tcp.registerProducer(_WriteBackpressure(self), True)
        self.handshake = PeerHandshake(
            self.switch.node_key.priv_key,
            self.switch.node_info,
            dialed_id=self.dialed.node_id if self.dialed else None,
        )
        self._arm_handshake_timer()
        self._flush_handshake()

    def _arm_handshake_timer(self) -> None:
        """Each handshake stage gets CometBFT's 3 s per-phase deadline, all within `handshake_timeout`."""
        config = self.switch.config
        left = self.started_at + config.handshake_timeout - self.switch.clock.seconds()
        cancel_call(self._timeout)
        self._stage = self.handshake_stage
        self._timeout = self.switch.clock.callLater(
            max(0.0, min(config.handshake_stage_timeout, left)),
            self.close,
            f"handshake timeout (stage {self._stage})",
            "handshake_timeout",
        )

    def dataReceived(self, data: bytes) -> None:
        try:
            if self.mconn is not None:
                assert self.handshake is not None
                self.mconn.receive(self.handshake.secret.receive(data))
            elif self.handshake is not None:
                result = self.handshake.receive(data)
                self._flush_handshake()
                if result is not None:
                    self._upgraded(result)
                elif self.handshake_stage != self._stage:
                    self._arm_handshake_timer()
        except NetworkMismatch as exc:
            self.switch.network_mismatch(self, exc)
            self.close(f"{type(exc).__name__}: {exc}", type(exc).__name__)
        except P2PError as exc:
            self.close(f"{type(exc).__name__}: {exc}", type(exc).__name__)
        except Exception as exc:  # a bug or a reactor's error: still only this connection goes
            log.exception("unexpected error on connection %s", self._remote())
            self.close(f"{type(exc).__name__}: {exc}", "internal_error")

    def _flush_handshake(self) -> None:
        assert self.handshake is not None
        out = self.handshake.data_to_send()
        if out and self._tcp is not None:
            self._tcp.write(out)

    def _upgraded(self, result: HandshakeResult) -> None:
        cancel_call(self._timeout)
        self.mconn = MConnection(
            self.switch.clock,
            self,
            self.switch.channel_descriptors(),
            self._on_message,
            self._mconn_failed,
            self.switch.config.mconn,
            self._on_peek,
        )
        self.mconn.start()
        self.peer = self.switch.add_peer(self, result)
        if result.leftover:
            self.mconn.receive(result.leftover)

    def _mconn_failed(self, reason: str) -> None:
        """A protocol violation by an authenticated peer bans it; a pong timeout is only a bad link."""
        if reason == PONG_TIMEOUT or self.peer is None:
            self.close(reason, "pong_timeout" if reason == PONG_TIMEOUT else "mconnection")
            return
        self.close(reason, "mconnection")
        self.switch.rejections.ban(self.peer.id, "mconnection", PROTOCOL_BAN_SECONDS, reason)
        self.switch.ban(self.peer.id, PROTOCOL_BAN_SECONDS)

    def _on_peek(self, channel_id: int, prefix: bytes) -> bool:
        return self.peer is None or self.switch.peek(self.peer, channel_id, prefix)

    def _on_message(self, channel_id: int, msg_bytes: bytes) -> None:
        assert self.peer is not None
        self.switch.deliver(self.peer, channel_id, msg_bytes)

    # MConnTransport: plaintext flushes are sealed here.
    def write(self, data: bytes) -> None:
        assert self.handshake is not None and self._tcp is not None
        self.handshake.secret.write(data)
        self._tcp.write(self.handshake.secret.data_to_send())

    def pause_reading(self) -> None:
        if self._tcp is not None:
            self._tcp.pauseProducing()

    def resume_reading(self) -> None:
        if self._tcp is not None:
            self._tcp.resumeProducing()

    def close(self, reason: str, kind: str = "closed") -> None:
        """Abort the connection, logging why (rate-limited per remote IP and kind); the switch is told in
        `connectionLost`."""
        if self._tcp is None or self.close_reason != "connection lost":
            return
        self.close_reason = reason
        self.switch.rejections.close(self._remote(), kind, reason, source=self.remote_address()[0])
        if self.mconn is not None:
            self.mconn.stop()
        self._tcp.abortConnection()

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        cancel_call(self._timeout)
        if self.mconn is not None:
            self.mconn.stop()
        self.switch.connection_lost(self, self.close_reason)

    def _remote(self) -> str:
        peer = self._tcp.getPeer() if self._tcp is not None else None
        return f"{getattr(peer, 'host', '?')}:{getattr(peer, 'port', '?')}"

    def remote_address(self) -> tuple[str, int]:
        peer = self._tcp.getPeer() if self._tcp is not None else None
        return str(getattr(peer, "host", "")), int(getattr(peer, "port", 0))


class PeerConnectionFactory(protocol.ClientFactory):
    """Builds inbound connections (listening) or one outbound connection to `dialed`."""

    def __init__(self, switch: Switch, dialed: NetAddress | None = None) -> None:
        self.switch = switch
        self.dialed = dialed

    def buildProtocol(self, addr: Any) -> PeerConnection:
        conn = PeerConnection(self.switch, self.dialed)
        conn.factory = self
        return conn

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        assert self.dialed is not None
        self.switch.dial_failed(self.dialed, reason.getErrorMessage())
