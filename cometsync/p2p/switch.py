"""The Switch: owns reactors, listens, dials persistent peers with backoff, bans, and routes messages."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from twisted.internet import defer

from cometsync.clock import Clock, DelayedCall, cancel_call, reactor_or_global
from cometsync.crypto.keyfiles import NodeKey
from cometsync.p2p.channel import ChannelDescriptor
from cometsync.p2p.errors import NetworkMismatch, RejectedPeerError
from cometsync.p2p.handshake import HandshakeResult
from cometsync.p2p.mconnection import MConnConfig
from cometsync.p2p.netaddress import NetAddress
from cometsync.p2p.node_info import NodeInfo
from cometsync.p2p.peer import Peer
from cometsync.p2p.reactor import Reactor
from cometsync.p2p.rejections import RejectionLog
from cometsync.p2p.transport import PeerConnection, PeerConnectionFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SwitchConfig:
    """CometBFT `[p2p]` knobs the switch uses (times in seconds)."""

    max_inbound: int = 40
    handshake_timeout: float = 20.0
    """Whole handshake (CometBFT's `[p2p] handshake_timeout`)."""
    handshake_stage_timeout: float = 3.0
    """Each stage (key exchange, authentication, NodeInfo): CometBFT's transport deadline per phase."""
    max_pending_handshakes: int = 64
    """Inbound connections still handshaking; beyond it the least advanced, oldest one is dropped."""
    max_pending_handshakes_per_ip: int = 8
    """The same, per remote IP."""
    dial_timeout: float = 3.0
    redial_base: float = 1.0
    redial_max: float = 60.0
    mconn: MConnConfig = field(default_factory=MConnConfig)


class Switch:
    """Connects reactors to peers. `reactor` must provide TCP and time (default: the global reactor)."""

    def __init__(
        self,
        node_key: NodeKey,
        network: str,
        moniker: str = "cometsync",
        config: SwitchConfig | None = None,
        reactor: Any = None,
    ) -> None:
        reactor = reactor_or_global(reactor)
        self.node_key = node_key
        self.network = network
        self.moniker = moniker
        self.config = config or SwitchConfig()
        self.listen_addr = "tcp://0.0.0.0:26656"
        self._reactor = reactor
        self.clock = cast(Clock, reactor)
        self._reactors: dict[str, Reactor] = {}
        self._by_channel: dict[int, Reactor] = {}
        self._descriptors: list[ChannelDescriptor] = []
        self._peers: dict[str, Peer] = {}
        self._connections: set[PeerConnection] = set()
        self._persistent: dict[str, NetAddress] = {}
        self._dialing: set[str] = set()
        self._redial_attempts: dict[str, int] = {}
        self._redial_calls: dict[str, DelayedCall] = {}
        self._banned_until: dict[str, float] = {}
        self.network_mismatches: dict[str, str] = {}
        """Peer id -> the network (chain id) it announced, for peers refused because it is not ours."""
        self.network_warning: str | None = None
        """Set once every persistent peer turned out to be on another network (the node cannot sync)."""
        self.rejections = RejectionLog(self.clock)
        self._ports: list[Any] = []
        self._stopping = False
        self._all_closed: defer.Deferred[None] | None = None

    # -- set-up ---------------------------------------------------------------------------------------

    def add_reactor(self, name: str, reactor: Reactor) -> None:
        for desc in reactor.get_channels():
            if desc.id in self._by_channel:
                raise ValueError(f"channel {desc.id:#x} is already registered")
            self._by_channel[desc.id] = reactor
            self._descriptors.append(desc)
        self._reactors[name] = reactor
        reactor.set_switch(self)

    def channel_descriptors(self) -> list[ChannelDescriptor]:
        return list(self._descriptors)

    @property
    def node_info(self) -> NodeInfo:
        return NodeInfo(
            node_id=self.node_key.node_id,
            listen_addr=self.listen_addr,
            network=self.network,
            channels=bytes(d.id for d in self._descriptors),
            moniker=self.moniker,
        )

    def listen(self, host: str, port: int) -> int:
        """Accept inbound peers on host:port (0 picks a free port); returns the bound port."""
        listening = self._reactor.listenTCP(port, PeerConnectionFactory(self), interface=host)
        self._ports.append(listening)
        bound = int(listening.getHost().port)
        self.listen_addr = f"tcp://{host}:{bound}"
        return bound

    @property
    def peers(self) -> list[Peer]:
        return list(self._peers.values())

    # -- dialing --------------------------------------------------------------------------------------

    def dial_peers(self, addresses: Iterable[str | NetAddress], persistent: bool = True) -> None:
        """Dial `id@host:port` addresses; persistent ones are redialled with backoff whenever lost."""
        for raw in addresses:
            address = raw if isinstance(raw, NetAddress) else NetAddress.parse(raw)
            if persistent:
                self._persistent[address.node_id] = address
            self._dial(address)

    def _dial(self, address: NetAddress) -> None:
        self._redial_calls.pop(address.node_id, None)
        if self._stopping or address.node_id in self._peers or address.node_id in self._dialing:
            return
        if address.node_id == self.node_key.node_id:
            log.warning("not dialing %s: that is our own node id", address)
            return
        wait = self._ban_remaining(address.node_id)
        if wait > 0:
            self._schedule_redial(address, wait)
            return
        self._dialing.add(address.node_id)
        self._reactor.connectTCP(
            address.host, address.port, PeerConnectionFactory(self, address), timeout=self.config.dial_timeout
        )

    def dial_failed(self, address: NetAddress, reason: str) -> None:
        log.info("dialing %s failed: %s", address, reason)
        self._dialing.discard(address.node_id)
        self._maybe_redial(address.node_id)

    def _maybe_redial(self, node_id: str) -> None:
        address = self._persistent.get(node_id)
        if address is None or self._stopping or node_id in self._redial_calls:
            return
        attempt = self._redial_attempts.get(node_id, 0)
        self._redial_attempts[node_id] = attempt + 1
        delay = min(self.config.redial_max, self.config.redial_base * 2**attempt)
        delay = max(delay * random.uniform(0.8, 1.2), self._ban_remaining(node_id))
        self._schedule_redial(address, delay)

    def _schedule_redial(self, address: NetAddress, delay: float) -> None:
        log.info("redialing %s in %.1fs", address, delay)
        self._redial_calls[address.node_id] = self.clock.callLater(delay, self._dial, address)

    # -- bans -----------------------------------------------------------------------------------------

    def ban(self, peer_id: str, seconds: float, reason: str = "") -> None:
        """Refuse and disconnect `peer_id` for `seconds`."""
        self._banned_until[peer_id] = max(
            self._banned_until.get(peer_id, 0.0), self.clock.seconds() + seconds
        )
        peer = self._peers.get(peer_id)
        if peer is not None:
            suffix = f": {reason}" if reason else ""
            self.stop_peer_for_error(peer, f"banned for {seconds:.0f}s{suffix}")

    def _ban_remaining(self, peer_id: str) -> float:
        until = self._banned_until.get(peer_id)
        if until is None:
            return 0.0
        remaining = until - self.clock.seconds()
        if remaining <= 0:
            del self._banned_until[peer_id]
            return 0.0
        return remaining

    def is_banned(self, peer_id: str) -> bool:
        return self._ban_remaining(peer_id) > 0

    # -- connection life-cycle (called by PeerConnection) ---------------------------------------------

    def admit_connection(self, conn: PeerConnection) -> str | None:
        """A reason to refuse a new TCP connection before the handshake, or None.

        Inbound handshakes are capped per IP and in total; when a cap is reached the least advanced,
        oldest pending handshake makes room (stalled ones never lock an honest peer out).
        """
        if self._stopping:
            return "switch is stopping"
        if not conn.is_outbound:
            if self._inbound_peers() >= self.config.max_inbound:
                return f"too many inbound peers (max {self.config.max_inbound})"
            host = conn.remote_address()[0]
            pending = [c for c in self._connections if not c.is_outbound and c.handshaking]
            same_ip = [c for c in pending if c.remote_address()[0] == host]
            if len(same_ip) >= self.config.max_pending_handshakes_per_ip:
                _evict(same_ip, f"too many pending handshakes from {host}")
            elif len(pending) >= self.config.max_pending_handshakes:
                _evict(pending, "too many pending handshakes")
        self._connections.add(conn)
        return None

    def _inbound_peers(self) -> int:
        return sum(1 for p in self._peers.values() if not p.is_outbound)

    def network_mismatch(self, conn: PeerConnection, err: NetworkMismatch) -> None:
        """A peer on another chain: say so once per peer, and once for the node when no peer is left."""
        if self.network_mismatches.get(err.peer_id) != err.theirs:
            log.warning(
                "peer %s at %s is on chain %r, this node is on chain %r: it will never serve us "
                "(check persistent_peers and genesis.json)",
                err.peer_id,
                "{}:{}".format(*conn.remote_address()),
                err.theirs,
                err.ours,
            )
        self.network_mismatches[err.peer_id] = err.theirs
        persistent = set(self._persistent)
        if self.network_warning is None and persistent and persistent <= set(self.network_mismatches):
            theirs = sorted(set(self.network_mismatches[p] for p in persistent))
            self.network_warning = (
                f"every persistent peer is on another chain ({', '.join(map(repr, theirs))}), "
                f"this node is on {err.ours!r}: it cannot sync"
            )
            log.warning("%s", self.network_warning)

    def add_peer(self, conn: PeerConnection, result: HandshakeResult) -> Peer:
        """The handshake succeeded: refuse banned or duplicate peers, else announce it to reactors."""
        node_id = result.node_info.node_id
        if self.is_banned(node_id):
            raise RejectedPeerError(f"peer {node_id} is banned")
        if node_id in self._peers:
            raise RejectedPeerError(f"already connected to peer {node_id}")
        if not conn.is_outbound and self._inbound_peers() >= self.config.max_inbound:
            raise RejectedPeerError(f"too many inbound peers (max {self.config.max_inbound})")
        assert conn.mconn is not None
        peer = Peer(
            node_info=result.node_info,
            remote_address=conn.remote_address(),
            is_outbound=conn.is_outbound,
            is_persistent=node_id in self._persistent,
            mconn=conn.mconn,
            close=conn.close,
        )
        self._peers[node_id] = peer
        self.network_mismatches.pop(node_id, None)
        self._dialing.discard(node_id)
        self._redial_attempts.pop(node_id, None)
        log.info("added %s", peer)
        for reactor in self._reactors.values():
            reactor.add_peer(peer)
        return peer

    def peek(self, peer: Peer, channel_id: int, prefix: bytes) -> bool:
        """The first bytes of a long message: False discards the rest unread (`Reactor.peek_msg_prefix`)."""
        return self._by_channel[channel_id].peek_msg_prefix(channel_id, peer, prefix)

    def deliver(self, peer: Peer, channel_id: int, msg_bytes: bytes) -> None:
        reactor = self._by_channel[channel_id]
        if reactor.filter_msg_bytes(channel_id, peer, msg_bytes):
            reactor.receive(channel_id, peer, msg_bytes)

    def stop_peer_for_error(self, peer: Peer, reason: str) -> None:
        """Disconnect a misbehaving peer; a persistent one is redialled with backoff."""
        log.info("stopping %s: %s", peer, reason)
        peer.close(reason)

    def connection_lost(self, conn: PeerConnection, reason: str) -> None:
        self._connections.discard(conn)
        if conn.dialed is not None:
            self._dialing.discard(conn.dialed.node_id)
        peer = conn.peer
        if peer is not None and self._peers.get(peer.id) is peer:
            del self._peers[peer.id]
            for reactor in self._reactors.values():
                reactor.remove_peer(peer, reason)
        node_id = peer.id if peer is not None else conn.dialed.node_id if conn.dialed else None
        if node_id is not None and node_id not in self._peers:
            self._maybe_redial(node_id)
        if self._stopping and not self._connections and self._all_closed is not None:
            done, self._all_closed = self._all_closed, None
            done.callback(None)

    # -- shutdown -------------------------------------------------------------------------------------

    def stop(self) -> defer.Deferred[None]:
        """Stop listening, cancel redials and close every connection; fires once all are closed."""
        self._stopping = True
        for call in self._redial_calls.values():
            cancel_call(call)
        self._redial_calls.clear()
        stopped = [defer.maybeDeferred(port.stopListening) for port in self._ports]
        self._ports.clear()
        closed: defer.Deferred[None] = defer.Deferred()
        if self._connections:
            self._all_closed = closed
            for conn in list(self._connections):
                conn.close("switch stopping")
        else:
            closed.callback(None)
        return defer.gatherResults([*stopped, closed]).addCallback(lambda _: None)


def _evict(pending: list[PeerConnection], reason: str) -> None:
    """Close the pending handshake that got least far, the oldest among equals."""
    victim = min(pending, key=lambda c: (c.handshake_stage, c.started_at))
    victim.close(f"handshake evicted: {reason}", "handshake_evicted")
