"""The node: everything `cometsync start` runs, built from one `Config`, then run.

Start-up stages (identity, stores, the app, the handshake) feed `build_node`, which wires every part
into a frozen `NodeParts`; the parts then start in order (engine, p2p, RPC, metrics, progress, blocksync)
and stop in reverse, each step bounded. A failure a user can cause becomes a `NodeStartError` once what
was already opened is closed again; a blocksync that fails later stops the node and fires `failed`.
"""

from __future__ import annotations

import errno
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO, TypeVar

from twisted.internet import defer
from twisted.internet.error import CannotListenError

from cometsync.config import Config
from cometsync.metrics import listen_metrics
from cometsync.node.build import NodeParts, build_node
from cometsync.node.errors import NodeStartError
from cometsync.node.handoff import connect_engine, start_engine
from cometsync.node.lifecycle import Lifecycle
from cometsync.node.progress import ProgressReporter
from cometsync.node.reactor_types import ListeningPort, NodeReactor, global_reactor
from cometsync.node.stages import (
    builtin_app,
    check_stored_range,
    connect_app,
    handshake,
    load_identity,
    open_block_store,
    open_state_store,
)
from cometsync.node.verify_pool import verify_pool
from cometsync.rpc import ListenAddress, RPCLimits, listen_rpc

log = logging.getLogger(__name__)
PortT = TypeVar("PortT")

APPLY_DRAIN_SECONDS = 30.0
ENGINE_STOP_SECONDS = 30.0
P2P_STOP_SECONDS = 10.0
APP_STOP_SECONDS = 15.0
"""Longer than the child's own SIGTERM-then-SIGKILL delay (`app_process.STOP_TIMEOUT_SECONDS`)."""


@dataclass(frozen=True)
class RunningNode:
    """A started node: its parts, and the ports it listens on (0: that listener is off)."""

    parts: NodeParts
    p2p_port: int
    rpc_port: int
    metrics_port: int


class Node:
    """One cometsync node. `start()` fires with a `RunningNode` once everything listens and blocksync runs;
    `stop()` undoes it all in reverse; `failed` fires with a one-line reason if the node stops itself.
    """

    def __init__(
        self,
        config: Config,
        *,
        reactor: NodeReactor | None = None,
        out: TextIO | None = None,
        tty: bool = False,
    ) -> None:
        self.config = config
        self.reactor = reactor if reactor is not None else global_reactor()
        self.failed: defer.Deferred[str] = defer.Deferred()
        self._out = out
        self._tty = tty
        self._lifecycle = Lifecycle(self.reactor)

    def start(self) -> defer.Deferred[RunningNode]:
        """Errbacks with NodeStartError after everything already started was stopped again."""
        return defer.ensureDeferred(self._start_or_undo())

    def stop(self) -> defer.Deferred[None]:
        """Idempotent clean shutdown; fires when every store is closed and the child app has exited."""
        return self._lifecycle.stop()

    # ------------------------------------------------------------------ stages, then build

    async def _start_or_undo(self) -> RunningNode:
        try:
            return await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> RunningNode:
        config, reactor, running = self.config, self.reactor, self._lifecycle.running
        identity = load_identity(config)
        block_store = open_block_store(config)
        running("the block store", block_store.close)
        state_store = open_state_store(config, identity.genesis)
        running("the state store", state_store.close)
        check_stored_range(config, block_store, state_store)
        child = builtin_app(config, reactor)
        if child is not None:
            running("the kvstore app to exit", child.stop, APP_STOP_SECONDS)
        app = await connect_app(config, child, reactor)
        running("the ABCI client", app.close)
        state = await handshake(state_store, block_store, identity.genesis, app)
        workers = verify_pool(config.cometsync.verify_workers)
        if workers is not None:
            running("the verify workers", lambda: workers.shutdown(wait=False, cancel_futures=True))
        parts = build_node(config, reactor, identity, block_store, state_store, app, state, workers)
        return self._run(parts)

    # ------------------------------------------------------------------ run

    def _run(self, parts: NodeParts) -> RunningNode:
        start = self._lifecycle.start
        reporter = (
            ProgressReporter(parts, self._out, tty=self._tty, clock=self.reactor) if self._out else None
        )

        def handed_off(blocks_synced: int) -> None:
            if reporter is not None:
                engine = self.config.cometsync.consensus_engine
                reporter.event("handoff", engine=engine, synced=blocks_synced)

        connect_engine(parts.handoff, parts.engine, handed_off, self._fail)
        parts.blocksync.failed.addCallback(lambda failure: self._fail(str(failure)))
        start(
            "the consensus engine", lambda: start_engine(parts.engine), parts.engine.stop, ENGINE_STOP_SECONDS
        )
        p2p_port = start(
            "the p2p switch", lambda: self._listen_p2p(parts), parts.switch.stop, P2P_STOP_SECONDS
        )
        rpc_port = self._listen_rpc(parts)
        metrics_port = self._listen_metrics(parts)
        if reporter is not None:
            start("the progress reporter", reporter.start, reporter.stop)
        blocksync = parts.blocksync

        def start_blocksync() -> None:
            parts.switch.dial_peers(_peer_list(self.config.p2p.persistent_peers))
            blocksync.start(blocksync=True)

        def stop_blocksync() -> defer.Deferred[None]:
            blocksync.stop()
            return blocksync.loop.idle()

        start("the block being applied", start_blocksync, stop_blocksync, APPLY_DRAIN_SECONDS)
        return RunningNode(parts, p2p_port, rpc_port, metrics_port)

    def _fail(self, reason: str) -> None:
        """The node cannot go on (a block it cannot apply): stop it, and say why once."""
        if self.failed.called:
            return
        self.stop()
        self.failed.callback(reason)

    def _listen_p2p(self, parts: NodeParts) -> int:
        laddr = self.config.p2p.laddr
        address = ListenAddress.parse(laddr)
        port = _listen(
            lambda: parts.switch.listen(address.host or "0.0.0.0", address.port), "p2p.laddr", laddr
        )
        external = self.config.p2p.external_address
        if external:
            parts.switch.listen_addr = external if "://" in external else f"tcp://{external}"
        return port

    def _listen_rpc(self, parts: NodeParts) -> int:
        laddr = self.config.rpc.laddr
        if not laddr:
            return 0
        rpc = self.config.rpc
        limits = RPCLimits(rpc.max_body_bytes, rpc.max_request_batch_size, rpc.max_open_connections)
        port: ListeningPort = _listen(
            lambda: listen_rpc(laddr, parts.rpc, self.reactor, limits), "rpc.laddr", laddr
        )
        self._lifecycle.running("the RPC listener", port.stopListening, P2P_STOP_SECONDS)
        return _bound_port(port)

    def _listen_metrics(self, parts: NodeParts) -> int:
        instrumentation = self.config.instrumentation
        laddr = instrumentation.prometheus_listen_addr
        if not instrumentation.prometheus or not laddr:
            return 0
        port: ListeningPort = _listen(
            lambda: listen_metrics(laddr, parts.metrics, self.reactor), "prometheus_listen_addr", laddr
        )
        self._lifecycle.running("the metrics listener", port.stopListening, P2P_STOP_SECONDS)
        return _bound_port(port)


def _peer_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _listen(open_port: Callable[[], PortT], key: str, laddr: str) -> PortT:
    """Run a listen call; a busy or forbidden address becomes one line naming the config key."""
    try:
        return open_port()
    except CannotListenError as exc:
        cause = exc.socketError
        if isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE:
            raise NodeStartError(f"port {exc.port} is in use ({key} {laddr})") from None
        raise NodeStartError(f"cannot listen on {laddr} ({key}): {cause}") from None
    except (OSError, ValueError) as exc:
        raise NodeStartError(f"cannot listen on {laddr} ({key}): {exc}") from None


def _bound_port(port: ListeningPort) -> int:
    return int(getattr(port.getHost(), "port", 0))


def default_out() -> tuple[TextIO, bool]:
    """Where progress goes when run from the CLI: stderr, live line only on a terminal."""
    return sys.stderr, sys.stderr.isatty()
