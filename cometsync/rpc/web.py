"""Typed wrappers for the few untyped twisted.web calls the RPC and metrics servers make."""

from __future__ import annotations

from twisted.web import resource, server
from twisted.web.server import Request

JSON_CONTENT_TYPE = b"application/json"


class LeafResource(resource.Resource):
    """A resource that handles every path below it itself."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]


def set_header(request: Request, name: bytes, value: bytes) -> None:
    request.setHeader(name, value)  # type: ignore[no-untyped-call]


def write_body(request: Request, code: int, content_type: bytes, body: bytes) -> None:
    """Finish an asynchronous answer (unless the client already went away)."""
    if request.finished or request.channel is None:
        return
    request.setResponseCode(code)
    set_header(request, b"content-type", content_type)
    set_header(request, b"content-length", b"%d" % len(body))  # not chunked: the body is all here
    request.write(body)  # type: ignore[no-untyped-call]
    request.finish()  # type: ignore[no-untyped-call]


def make_site(root: resource.Resource) -> server.Site:
    site: server.Site = server.Site(root)  # type: ignore[no-untyped-call]
    site.displayTracebacks = False
    return site
