"""Twisted glue for the RPC: URI calls (`GET /block?height=5`) and JSON-RPC 2.0 POSTs to `/`, answered with
CometBFT's envelope, error objects and HTTP status codes."""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Mapping
from typing import Any

from twisted.internet import defer
from twisted.python.failure import Failure
from twisted.web.server import NOT_DONE_YET, Request

from cometsync.rpc.env import RPCEnvironment
from cometsync.rpc.errors import INTERNAL_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR, RPCError
from cometsync.rpc.handlers import ROUTES, Route
from cometsync.rpc.listen import listen_http
from cometsync.rpc.params import Params
from cometsync.rpc.web import JSON_CONTENT_TYPE, LeafResource, make_site, set_header, write_body
from cometsync.store.errors import StoreError

log = logging.getLogger(__name__)

URI_REQUEST_ID = -1
JSONRPCID = str | int | None


def _envelope(
    request_id: JSONRPCID, result: object = None, error: RPCError | None = None
) -> dict[str, object]:
    if error is None:
        return {"jsonrpc": "2.0", "id": request_id, "result": result}
    body = error.to_json()
    if not error.data:
        del body["data"]
    return {"jsonrpc": "2.0", "id": request_id, "error": body}


def _as_rpc_error(failure: Failure) -> RPCError:
    error = failure.value
    if isinstance(error, RPCError):
        return error
    if isinstance(error, StoreError):  # typed, counted and logged once by the store
        return RPCError(INTERNAL_ERROR, str(error))
    log.error("RPC handler failed: %s", failure.getTraceback())
    return RPCError(INTERNAL_ERROR, str(error) or type(error).__name__)


def _encode(payload: object) -> bytes:
    return json.dumps(payload, indent=2).encode() + b"\n"


class RPCResource(LeafResource):
    """The RPC server's single resource; the path names the method."""

    def __init__(self, env: RPCEnvironment, routes: Mapping[str, Route] = ROUTES) -> None:
        super().__init__()
        self._env = env
        self._routes = routes

    def _call(self, route: Route, params: Params) -> defer.Deferred[object]:
        return defer.maybeDeferred(route.handler, self._env, params)

    # -- URI ----------------------------------------------------------------------------------------

    def render_GET(self, request: Request) -> bytes | int:
        method = request.path.decode("utf-8", "replace").strip("/")
        if not method:
            set_header(request, b"content-type", b"text/html")
            return self._endpoint_list(request)
        route = self._routes.get(method)
        if route is None:
            request.setResponseCode(404)
            set_header(request, b"content-type", b"text/plain; charset=utf-8")
            return b"404 page not found\n"
        params = Params.from_query(request.args or {})

        def success(result: object) -> None:
            write_body(request, 200, JSON_CONTENT_TYPE, _encode(_envelope(URI_REQUEST_ID, result)))

        def failure(reason: Failure) -> None:
            envelope = _envelope(URI_REQUEST_ID, error=_as_rpc_error(reason))
            write_body(request, 500, JSON_CONTENT_TYPE, _encode(envelope))

        self._call(route, params).addCallbacks(success, failure)
        return NOT_DONE_YET

    def _endpoint_list(self, request: Request) -> bytes:
        host = html.escape((request.getHeader(b"host") or b"").decode("utf-8", "replace"))
        plain = sorted(name for name, route in self._routes.items() if not route.param_names)
        with_args = sorted(name for name, route in self._routes.items() if route.param_names)
        lines = ["<html><body>", "<br>Available endpoints:<br>"]
        lines += [f'<a href="//{host}/{name}">//{host}/{name}</a></br>' for name in plain]
        lines.append("<br>Endpoints that require arguments:<br>")
        for name in with_args:
            link = f"//{host}/{name}?" + "&".join(f"{arg}=_" for arg in self._routes[name].param_names)
            lines.append(f'<a href="{link}">{link}</a></br>')
        lines.append("</body></html>")
        return "".join(lines).encode()

    @staticmethod
    def _answer_now(request: Request, code: int, payload: object) -> bytes:
        request.setResponseCode(code)
        set_header(request, b"content-type", JSON_CONTENT_TYPE)
        return _encode(payload)

    # -- JSON-RPC -----------------------------------------------------------------------------------

    def render_POST(self, request: Request) -> bytes | int:
        if request.path.strip(b"/"):
            return self.render_GET(request)  # a form POST to /method, as Go's URI handler accepts
        body = request.content.read() if request.content is not None else b""
        if not body.strip():
            set_header(request, b"content-type", b"text/html")
            return self._endpoint_list(request)
        try:
            decoded = json.loads(body)
        except ValueError as exc:
            error = RPCError(PARSE_ERROR, f"error unmarshaling request: {exc}")
            return self._answer_now(request, 500, _envelope(None, error=error))
        batch = isinstance(decoded, list)
        calls = [self._json_rpc_call(item) for item in (decoded if batch else [decoded])]
        answers = [call for call in calls if call is not None]
        if not answers:
            request.setResponseCode(200)
            return b""

        def respond(envelopes: list[dict[str, object]]) -> None:
            payload: object = envelopes if batch else envelopes[0]
            write_body(request, 200, JSON_CONTENT_TYPE, _encode(payload))

        defer.gatherResults(answers).addCallback(respond)
        return NOT_DONE_YET

    def _json_rpc_call(self, item: Any) -> defer.Deferred[dict[str, object]] | None:
        """One request of a (possibly batched) body; None for a notification (no id: no answer)."""
        if not isinstance(item, dict):
            return defer.succeed(_envelope(None, error=RPCError(INVALID_REQUEST, "request is not an object")))
        request_id = item.get("id")
        if request_id is None:
            return None
        if isinstance(request_id, bool) or not isinstance(request_id, str | int):
            error = RPCError(INVALID_REQUEST, f"invalid id {request_id!r}: must be a string or an integer")
            return defer.succeed(_envelope(None, error=error))
        route = self._routes.get(str(item.get("method", "")))
        if route is None:
            return defer.succeed(_envelope(request_id, error=RPCError(METHOD_NOT_FOUND)))
        try:
            params = Params.from_json(item.get("params"), route.param_names)
        except RPCError as exc:
            exc.data = f"error converting json params to arguments: {exc.data}"
            return defer.succeed(_envelope(request_id, error=exc))
        return self._call(route, params).addCallbacks(
            lambda result: _envelope(request_id, result),
            lambda reason: _envelope(request_id, error=_as_rpc_error(reason)),
        )


def listen_rpc(laddr: str, env: RPCEnvironment, reactor: Any = None) -> Any:
    """Serve the RPC on `[rpc] laddr`; returns the listening port (read `.getHost().port` for laddr :0)."""
    return listen_http(laddr, make_site(RPCResource(env)), reactor)
