"""Peer addresses in CometBFT's `id@host:port` form (optionally prefixed with `tcp://`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cometsync.p2p.errors import P2PError

_NODE_ID = re.compile(r"^[0-9a-f]{40}$")


class AddressError(P2PError):
    """An address or node id that CometBFT would not accept."""


def validate_node_id(node_id: str) -> None:
    """A node id is the lower-case hex of a 20-byte address."""
    if not _NODE_ID.match(node_id):
        raise AddressError(f"invalid node id {node_id!r}: want 40 lower-case hex characters")


def remove_protocol(address: str) -> str:
    _, sep, rest = address.partition("://")
    return rest if sep else address


def split_host_port(host_port: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` into parts; the port must fit 16 bits."""
    if host_port.startswith("["):
        host, sep, port = host_port[1:].partition("]:")
    else:
        host, sep, port = host_port.rpartition(":")
        if ":" in host:
            raise AddressError(f"address {host_port!r}: too many colons (bracket IPv6 hosts)")
    if not sep or not host:
        raise AddressError(f"address {host_port!r}: want host:port")
    if not port.isdigit() or int(port) > 0xFFFF:
        raise AddressError(f"address {host_port!r}: invalid port {port!r}")
    return host, int(port)


@dataclass(frozen=True)
class NetAddress:
    """Where a peer listens, and which node id must answer there."""

    node_id: str
    host: str
    port: int

    @classmethod
    def parse(cls, address: str) -> NetAddress:
        """Parse `[tcp://]id@host:port`, checking the id like CometBFT's `NewNetAddressString`."""
        node_id, sep, host_port = remove_protocol(address.strip()).partition("@")
        if not sep:
            raise AddressError(f"address {address!r} has no node id (want id@host:port)")
        validate_node_id(node_id)
        host, port = split_host_port(host_port)
        return cls(node_id, host, port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.node_id}@{host}:{self.port}"
