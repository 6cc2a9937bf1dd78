"""Listen addresses as CometBFT writes them (`tcp://127.0.0.1:26657`, `:26660`, `unix:///path`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twisted.web.server import Site

from cometsync.clock import reactor_or_global


@dataclass(frozen=True)
class ListenAddress:
    """A TCP host/port (empty host: every interface) or a UNIX socket path."""

    host: str = ""
    port: int = 0
    unix_path: str = ""

    @classmethod
    def parse(cls, laddr: str) -> ListenAddress:
        text = laddr.strip()
        if text.startswith("unix://"):
            path = text[len("unix://") :]
            if not path:
                raise ValueError(f"listen address {laddr!r} has no socket path")
            return cls(unix_path=path)
        if "://" in text:
            scheme, _, text = text.partition("://")
            if scheme != "tcp":
                raise ValueError(f"listen address {laddr!r}: only tcp:// and unix:// are supported")
        host, sep, port_text = text.rpartition(":")
        if not sep or not port_text.isdigit() or int(port_text) > 65535:
            raise ValueError(f"listen address {laddr!r} must be host:port")
        return cls(host=host.strip("[]"), port=int(port_text))


def listen_http(laddr: str, site: Site, reactor: Any = None) -> Any:
    """Start listening (port 0 picks a free one: read `port.getHost().port`)."""
    reactor = reactor_or_global(reactor)
    address = ListenAddress.parse(laddr)
    if address.unix_path:
        return reactor.listenUNIX(address.unix_path, site)
    return reactor.listenTCP(address.port, site, interface=address.host)
