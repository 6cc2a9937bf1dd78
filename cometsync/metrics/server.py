"""Serves a metrics registry as `/metrics` over twisted.web on `[instrumentation] prometheus_listen_addr`."""

from __future__ import annotations

from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST
from twisted.web.server import Request

from cometsync.rpc.listen import listen_http
from cometsync.rpc.web import LeafResource, make_site, set_header


class MetricsSource(Protocol):
    def render(self) -> bytes: ...


class MetricsResource(LeafResource):
    """`GET /metrics` renders the registry at request time; other paths are 404 as in CometBFT."""

    def __init__(self, source: MetricsSource) -> None:
        super().__init__()
        self._source = source

    def render_GET(self, request: Request) -> bytes:
        if request.path.rstrip(b"/") != b"/metrics":
            request.setResponseCode(404)
            set_header(request, b"content-type", b"text/plain; charset=utf-8")
            return b"404 page not found\n"
        set_header(request, b"content-type", CONTENT_TYPE_LATEST.encode())
        return self._source.render()


def listen_metrics(laddr: str, source: MetricsSource, reactor: Any = None) -> Any:
    """Listen on `laddr` (`:26660`, `tcp://host:port`); returns the listening port."""
    return listen_http(laddr, make_site(MetricsResource(source)), reactor)
