"""Twisted glue for the RPC: URI calls (`GET /block?height=5`) and JSON-RPC 2.0 POSTs to `/`, answered with
CometBFT's envelope, error objects and HTTP status codes, within CometBFT's `[rpc]` limits."""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from twisted.internet import defer, threads
from twisted.python.failure import Failure
from twisted.web.server import NOT_DONE_YET, Request

from cometsync.clock import reactor_or_global
from cometsync.rpc.channel import RPCSite
from cometsync.rpc.env import RPCEnvironment
from cometsync.rpc.envelope import URI_REQUEST_ID, Answer, batch, envelope
from cometsync.rpc.errors import INTERNAL_ERROR, INVALID_PARAMS, METHOD_NOT_FOUND, RPCError
from cometsync.rpc.handlers import ROUTES, Route
from cometsync.rpc.limits import ConnectionGate, RPCLimits, ServingBudget
from cometsync.rpc.listen import listen_http
from cometsync.rpc.params import Params
from cometsync.rpc.requests import BatchTooLarge, Call, RequestID, decode_body
from cometsync.rpc.web import JSON_CONTENT_TYPE, LeafResource, set_header, write_body
from cometsync.store.errors import StoreError

log = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_LIMITS = RPCLimits()
BLOCKING_CALLS_AT_ONCE = 2
"""Worker threads running blocking handlers at once; more would only contend for the GIL."""
SYNC_SHARE = 0.10
"""While the node catches up, the RPC may use 10 % of the wall clock (reactor thread and workers)..."""
SYNC_BURST_SECONDS = 0.1
"""...in bursts of up to 100 ms; a client asking for more waits (its connection is not read meanwhile)."""


def _prefixed(error: RPCError, transport: str) -> RPCError:
    """Bad params are reported as Go's server reports its argument conversion failures."""
    if error.code == INVALID_PARAMS:
        return RPCError(INVALID_PARAMS, f"error converting {transport} params to arguments: {error.data}")
    return error


def _as_rpc_error(failure: Failure, transport: str) -> RPCError:
    """An RPC error as is, anything else (a bug) logged and answered as an internal error."""
    error = failure.value
    if isinstance(error, RPCError):
        return _prefixed(error, transport)
    if isinstance(error, StoreError):  # typed, counted and logged once by the store
        return RPCError(INTERNAL_ERROR, str(error))
    log.error("RPC handler failed: %s", failure.getTraceback())
    return RPCError(INTERNAL_ERROR, str(error) or type(error).__name__)


class WorkerThreads:
    """Runs blocking handlers on the reactor's thread pool, at most `at_once` together (the rest queue),
    so a big block or a long priority replay never holds up the reactor thread."""

    def __init__(self, reactor: Any, at_once: int = BLOCKING_CALLS_AT_ONCE) -> None:
        self._reactor = reactor
        self._slots = defer.DeferredSemaphore(at_once)

    def run(self, work: Callable[[], T], budget: ServingBudget) -> defer.Deferred[T]:
        """`work`'s value; the budget is charged with the CPU time the worker spent on it."""

        def timed() -> tuple[T, float]:
            began = time.thread_time()
            return work(), time.thread_time() - began

        def charged(outcome: tuple[T, float]) -> T:
            budget.charge(outcome[1])
            return outcome[0]

        pool = self._reactor.getThreadPool()
        ran: defer.Deferred[tuple[T, float]] = self._slots.run(
            threads.deferToThreadPool, self._reactor, pool, timed
        )
        return ran.addCallback(charged)


class RPCResource(LeafResource):
    """The RPC server's single resource; the path names the method."""

    def __init__(
        self,
        env: RPCEnvironment,
        budget: ServingBudget,
        routes: Mapping[str, Route] = ROUTES,
        limits: RPCLimits = DEFAULT_LIMITS,
        reactor: Any = None,
    ) -> None:
        super().__init__()
        self._env = env
        self._budget = budget
        self._routes = routes
        self._limits = limits
        self._workers = WorkerThreads(reactor_or_global(reactor))

    def _answer(self, route: Route, params: Params, request_id: RequestID | None, transport: str) -> Any:
        """Deferred[Answer]: the encoded envelope of one call; blocking routes run and encode off-thread."""
        env = self._env
        if route.blocking:
            answered = self._workers.run(
                lambda: envelope(request_id, route.handler(env, params)), self._budget
            )
        else:
            answered = defer.maybeDeferred(route.handler, env, params).addCallback(
                lambda result: envelope(request_id, result)
            )
        return answered.addCallbacks(
            lambda body: Answer(False, body),
            lambda reason: Answer(True, envelope(request_id, error=_as_rpc_error(reason, transport))),
        )

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

        def respond(answer: Answer) -> None:
            write_body(request, 500 if answer.failed else 200, JSON_CONTENT_TYPE, answer.body)

        prebuilt = self.prebuilt_answer(method)
        if prebuilt is not None:
            respond(prebuilt)
        else:
            params = Params.from_query(request.args or {})
            self._answer(route, params, URI_REQUEST_ID, "http").addCallback(respond)
        return NOT_DONE_YET

    def prebuilt_answer(self, method: str) -> Answer | None:
        """The URI answer of a route with a prebuilt body (see `Route.uri_body`), else None."""
        route = self._routes.get(method)
        if route is None or route.uri_body is None:
            return None
        try:
            return Answer(False, route.uri_body(self._env))
        except Exception:  # answered as the handler's failure would be
            return Answer(True, envelope(URI_REQUEST_ID, error=_as_rpc_error(Failure(), "http")))  # type: ignore[no-untyped-call]

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

    # -- JSON-RPC -----------------------------------------------------------------------------------

    def render_POST(self, request: Request) -> bytes | int:
        if request.path.strip(b"/"):
            return self.render_GET(request)  # a form POST to /method, as Go's URI handler accepts
        body = request.content.read() if request.content is not None else b""
        if not body:
            set_header(request, b"content-type", b"text/html")
            return self._endpoint_list(request)
        set_header(request, b"content-type", JSON_CONTENT_TYPE)
        try:
            decoded = decode_body(body, self._limits.max_request_batch_size)
        except BatchTooLarge as exc:
            return envelope(None, error=exc)
        except RPCError as exc:
            request.setResponseCode(500)
            return envelope(None, error=exc)
        answers = [self._json_rpc_call(call) for call in decoded.calls if call.request_id is not None]
        if not answers:
            return b""

        def respond(done: list[Answer]) -> None:
            write_body(request, 200, JSON_CONTENT_TYPE, batch([answer.body for answer in done]))

        defer.gatherResults(answers).addCallback(respond)
        return NOT_DONE_YET

    def _json_rpc_call(self, call: Call) -> Any:
        """Deferred[Answer] of one request of a (possibly batched) body."""
        route = self._routes.get(call.method)
        if route is None:
            return defer.succeed(Answer(True, envelope(call.request_id, error=RPCError(METHOD_NOT_FOUND))))
        try:
            params = Params.from_json(call.params, route.param_names)
        except RPCError as exc:
            return defer.succeed(Answer(True, envelope(call.request_id, error=_prefixed(exc, "json"))))
        return self._answer(route, params, call.request_id, "json")


class RPCListener:
    """The listening port plus its connection gate: `stopListening` also drops clients still waiting."""

    def __init__(self, port: Any, site: RPCSite) -> None:
        self._port = port
        self._site = site
        site.gate.attach(port)

    @property
    def gate(self) -> ConnectionGate:
        return self._site.gate

    def getHost(self) -> Any:
        return self._port.getHost()

    def stopListening(self) -> defer.Deferred[None]:
        self._site.gate.attach(None)
        self._site.gate.drop_waiting()
        self._site.stop_throttling()
        stopped: defer.Deferred[None] = defer.maybeDeferred(self._port.stopListening)
        return stopped


def sync_budget(env: RPCEnvironment, clock: Any) -> ServingBudget:
    """The RPC's share of the node while it catches up (see `SYNC_SHARE`)."""
    return ServingBudget(env.catching_up, clock, SYNC_SHARE, SYNC_BURST_SECONDS)


def listen_rpc(
    laddr: str,
    env: RPCEnvironment,
    reactor: Any = None,
    limits: RPCLimits = DEFAULT_LIMITS,
    budget: ServingBudget | None = None,
) -> RPCListener:
    """Serve the RPC on `[rpc] laddr`; read `.getHost().port` for laddr :0."""
    reactor = reactor_or_global(reactor)
    budget = budget or sync_budget(env, reactor)
    root = RPCResource(env, budget, limits=limits, reactor=reactor)
    site = RPCSite(root, limits, budget, root.prebuilt_answer)
    return RPCListener(listen_http(laddr, site, reactor), site)
