"""Listen addresses as CometBFT writes them (`tcp://127.0.0.1:26657`, `:26660`, `unix:///path`)."""

from __future__ import annotations

from typing import Any

from twisted.web.server import Site

from cometsync.clock import reactor_or_global
from cometsync.endpoint import Endpoint


class ListenAddress(Endpoint):
    """Where a listener binds: a TCP host/port (empty host: every interface) or a unix socket path."""

    @classmethod
    def parse(cls, laddr: str) -> ListenAddress:
        return cls.parse_as(laddr, "listen address", any_host=True)


def listen_http(laddr: str, site: Site, reactor: Any = None) -> Any:
    """Start listening (port 0 picks a free one: read `port.getHost().port`)."""
    reactor = reactor_or_global(reactor)
    address = ListenAddress.parse(laddr)
    if address.path:
        return reactor.listenUNIX(address.path, site)
    return reactor.listenTCP(address.port, site, interface=address.host)
